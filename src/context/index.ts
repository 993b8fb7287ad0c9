export { RequestContext, ContextResponse, clientAddress } from './request-context.js';
export type { ContextError } from './request-context.js';
