export { RequestContext, ContextResponse } from './request-context.js';
export type { ContextError } from './request-context.js';
