export { RequestContext, ContextResponse } from './request-context.js';
export type { Cancellable, ClientRequest, ClientResponse, HeadHolder, HeaderEdit } from './request-context.js';
