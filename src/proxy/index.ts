export { Proxy, CLIENT_CLOSED } from './proxy.js';
export { classify, ProxyError } from './errors.js';
export type { ProxyErrorCode } from './errors.js';
export { Upstreams } from './upstreams.js';
