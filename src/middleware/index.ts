export { compose } from './chain.js';
export type { Chain, Middleware } from './chain.js';
export { requestId } from './request-id.js';
export { accessLog } from './access-log.js';
export type { LineSink } from './access-log.js';
