export { Proxy } from './proxy.js';
export type { Attempt, Forwarder } from './proxy.js';
export { classify, CLIENT_CLOSED, ProxyError } from './errors.js';
export type { ProxyErrorCode } from './errors.js';
export { Upstreams } from './upstreams.js';
export { ExplainGate, Explanation, EXPLAIN_HEADER } from './explain.js';
