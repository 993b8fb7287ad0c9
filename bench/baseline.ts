/**
 * The baseline: a minimal streaming reverse proxy with no features (node:http server, one
 * undici Pool per backend, round robin, hop-by-hop headers stripped). The same design as
 * shared/peer-bench/proxies/undici-pool.js. Env: BENCH_PORT, BENCH_BACKENDS ("host:port,...").
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { Pool } from 'undici';

const port = Number(process.env.BENCH_PORT);
const pools = process.env.BENCH_BACKENDS!.split(',').map((hp) =>
  new Pool(`http://${hp}`, { connections: 128, pipelining: 1, keepAliveTimeout: 60e3 }));
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
const strip = (h: IncomingHttpHeaders | Record<string, string | string[] | undefined>): Record<string, string | string[]> => {
  const out: Record<string, string | string[]> = {};
  for (const k in h) if (!HOP.has(k) && h[k] !== undefined) out[k] = h[k]!;
  return out;
};
let rr = 0;

createServer((req, res) => {
  const pool = pools[rr++ % pools.length]!;
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  pool.stream({ path: req.url!, method: req.method as 'GET', headers: strip(req.headers), body: hasBody ? req : null },
    ({ statusCode, headers }) => {
      res.writeHead(statusCode, strip(headers));
      return res;
    },
    (err) => {
      if (!err) return;
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end();
    });
}).listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
