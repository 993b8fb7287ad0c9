export { HttpListener, DEFAULT_LIMITS } from './http-server.js';
export type { ListenerOptions, ClientLimits } from './http-server.js';
export { Tunnels } from './upgrade.js';
export type { TunnelOptions } from './upgrade.js';
export { framingProblem } from './framing.js';
