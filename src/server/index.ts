export { HttpListener } from './http-server.js';
export type { Listener } from '../http1/index.js';
