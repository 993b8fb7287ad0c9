/**
 * Fast benchmark backends: three ports answering GET with a fixed body (6 B, 1 KiB or 64 KiB),
 * keep-alive, nothing else. Env: BENCH_BACKEND_PORTS ("19101,19102,19103"), BENCH_BODY (bytes),
 * BENCH_BODY_KIND (`fill`, one repeated byte, the default; `text`, JSON-like text that compresses
 * as an API's answers do, for the compression runs).
 */
import { createServer } from 'node:http';

const ports = (process.env.BENCH_BACKEND_PORTS ?? '19101,19102,19103').split(',').map(Number);
const size = Number(process.env.BENCH_BODY ?? 6);
const body = size === 6 ? Buffer.from('hello\n') : process.env.BENCH_BODY_KIND === 'text' ? jsonText(size) : Buffer.alloc(size, 97);

/** Deterministic JSON-like text (a small LCG): repeated keys, varied values. */
function jsonText(bytes: number): Buffer {
  let seed = 42;
  const next = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet'];
  let text = '[';
  while (text.length < bytes) text += `{"id":${next()},"name":"${words[next() % 10]} ${words[next() % 10]}","price":${(next() % 100000) / 100},"tags":["${words[next() % 10]}"]},\n`;
  return Buffer.from(text.slice(0, bytes));
}
for (const port of ports) {
  const server = createServer((req, res) => {
    req.resume();
    const respond = (): void => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length, 'x-backend': String(port) });
      res.end(body);
    };
    // An upload is answered once it has all arrived, as an upload endpoint does (bench:peers' upload mode).
    if (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined) req.once('end', respond);
    else respond();
  });
  server.keepAliveTimeout = 120_000;
  server.listen(port, '127.0.0.1');
}
process.on('SIGTERM', () => process.exit(0));
