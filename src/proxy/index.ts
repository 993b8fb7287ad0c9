export { Proxy, CLIENT_CLOSED } from './proxy.js';
export type { ProxyOptions } from './proxy.js';
export { classify, ProxyError, toProxyError } from './errors.js';
export type { Failure, ProxyErrorCode, Stage } from './errors.js';
export { Upstreams } from './upstreams.js';
export type { UpstreamOptions } from './upstreams.js';
export { upstreamRequestHeaders, downstreamResponseHeaders } from './headers.js';
