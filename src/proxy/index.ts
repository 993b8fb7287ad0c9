export { Proxy } from './proxy.js';
export { Attempt } from './attempt.js';
export { NodeTransport } from './node-transport.js';
export type { NodeTransportOptions } from './node-transport.js';
export { NO_CONNECTIONS } from './transport.js';
export type { ConnectionStats, Stream, Transport, TransportOptions } from './transport.js';
export { classify, CLIENT_CLOSED, ProxyError } from '../errors/index.js';
export type { ProxyErrorCode } from '../errors/index.js';
export { ExplainGate, Explanation, EXPLAIN_HEADER } from './explain.js';
