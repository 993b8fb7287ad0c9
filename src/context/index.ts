export { RequestContext, ContextResponse } from './request-context.js';
export type { ClientRequest, ClientResponse } from './request-context.js';
