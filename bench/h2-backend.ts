/**
 * The h2c backends of `npm run bench -- --h2`: three ports speaking cleartext HTTP/2 (prior
 * knowledge), answering every stream with a fixed body, as bench/backend.ts does over HTTP/1.1.
 * The stream API, not the compatibility one, so the backends cost as little per request as
 * node:http2 allows. Env: BENCH_H2_BACKEND_PORTS ("19111,19112,19113"), BENCH_BODY (bytes).
 */
import { constants, createServer, type ServerHttp2Stream } from 'node:http2';

const ports = (process.env.BENCH_H2_BACKEND_PORTS ?? '19111,19112,19113').split(',').map(Number);
const size = Number(process.env.BENCH_BODY ?? 6);
const body = size === 6 ? Buffer.from('hello\n') : Buffer.alloc(size, 97);
for (const port of ports) {
  const headers = {
    [constants.HTTP2_HEADER_STATUS]: 200,
    'content-type': 'text/plain',
    'content-length': body.length,
    'x-backend': String(port),
  };
  const server = createServer();
  server.on('stream', (stream: ServerHttp2Stream) => {
    // A reset stream (the proxy's client left) is no failure of the backend's.
    stream.on('error', () => {});
    stream.resume();
    stream.respond(headers);
    stream.end(body);
  });
  server.listen(port, '127.0.0.1');
}
process.on('SIGTERM', () => process.exit(0));
