export { compose } from './chain.js';
export type { Chain, Middleware, Next } from './chain.js';
export { requestId, isSaneRequestId } from './request-id.js';
export { accessLog } from './access-log.js';
export type { LineSink } from './access-log.js';
