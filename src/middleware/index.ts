export { compose } from './chain.js';
export type { Chain, Middleware } from './chain.js';
export { requestId } from './request-id.js';
export { accessLog } from './access-log.js';
export type { LineSink } from './access-log.js';
export type { AccessLogOptions } from './access-log.js';
export { ACCESS_FIELDS, compileAccessFormat, UnknownAccessField } from './access-format.js';
export type { TextFormat } from './access-format.js';
