/**
 * The floor, server side: a bare node:http server answering `hello\n` itself, no proxying.
 * What node:http's machinery alone costs per request. Env: BENCH_PORT.
 */
import { createServer } from 'node:http';

const body = Buffer.from('hello\n');
createServer((req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
}).listen(Number(process.env.BENCH_PORT), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
