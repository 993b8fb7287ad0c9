export { RequestContext, ContextResponse } from './request-context.js';
export type { Cancellable, ClientRequest, ClientResponse, HeaderEdit } from './request-context.js';
