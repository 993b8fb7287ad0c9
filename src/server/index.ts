export { HttpListener, DEFAULT_LIMITS } from './http-server.js';
export type { ListenerOptions, ClientLimits } from './http-server.js';
export { framingProblem } from './framing.js';
