export { classify, CLIENT_CLOSED, isGatewayFailure, ProxyError, toProxyError } from './proxy-error.js';
export type { Failure, ProxyErrorCode, Retry, Stage } from './proxy-error.js';
