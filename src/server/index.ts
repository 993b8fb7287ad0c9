export { HttpListener } from './http-server.js';
export type { ListenerOptions } from './http-server.js';
