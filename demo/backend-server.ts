/**
 * One demo backend on its own, for the containers of `compose.yaml`:
 *   node dist/demo/backend-server.js "Backend 1" 8081 [host]
 * The same backend as `npm start` runs (`/echo`, `/health`, `/demo/fail` and the other modes);
 * it listens on every interface unless a host is given, and says where on standard output.
 */
import { createDemoBackend, listen } from './backend.js';

const [name = 'Backend', port = '8081', host = '0.0.0.0'] = process.argv.slice(2);
const server = createDemoBackend(name);
listen(server, Number(port), host).then((bound) => {
  process.stdout.write(`${name} listening on ${host}:${bound}\n`);
}, (err: unknown) => {
  process.stderr.write(`demo backend: ${(err as Error).message}\n`);
  process.exit(1);
});
const stop = (): void => {
  server.close();
  server.closeAllConnections();
};
// PID 1 in a container gets no default signal handling: `docker compose down` sends SIGTERM.
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
