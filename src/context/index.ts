export { RequestContext, ContextResponse } from './request-context.js';
export type { Cancellable, ClientRequest, ClientResponse } from './request-context.js';
