/**
 * Fast benchmark backends: three ports answering GET with a fixed body (6 B, 1 KiB or 64 KiB),
 * keep-alive, nothing else. Env: BENCH_BACKEND_PORTS ("19101,19102,19103"), BENCH_BODY (bytes).
 */
import { createServer } from 'node:http';

const ports = (process.env.BENCH_BACKEND_PORTS ?? '19101,19102,19103').split(',').map(Number);
const size = Number(process.env.BENCH_BODY ?? 6);
const body = size === 6 ? Buffer.from('hello\n') : Buffer.alloc(size, 97);
for (const port of ports) {
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length, 'x-backend': String(port) });
    res.end(body);
  });
  server.keepAliveTimeout = 120_000;
  server.listen(port, '127.0.0.1');
}
process.on('SIGTERM', () => process.exit(0));
