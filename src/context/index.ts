export { RequestContext, ContextResponse } from './request-context.js';
