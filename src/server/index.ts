export { HttpListener } from './http-server.js';
