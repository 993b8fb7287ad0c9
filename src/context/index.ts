export { RequestContext, ContextResponse } from './request-context.js';
export type { Cancellable, ClientRequest, ClientResponse, HeadHolder, HeaderEdit, RouteCache } from './request-context.js';
