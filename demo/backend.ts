import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small but realistic backend: `GET /` answers `Backend N`, `/health` answers 200, `/echo`
 * returns the request's method, path and headers as JSON.
 */
export function createDemoBackend(name: string): Server {
  const hello = Buffer.from(`${name}\n`);
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/health') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (path === '/echo') {
      const body = JSON.stringify({ backend: name, method: req.method, path: req.url, headers: req.headers, rawHeaders: req.rawHeaders }, null, 2);
      res.writeHead(200, { 'content-type': 'application/json' }).end(`${body}\n`);
      req.resume();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': hello.length }).end(hello);
    req.resume();
  });
}

/** Listens on `port` (0 for any) on 127.0.0.1 and resolves with the bound port. */
export function listen(server: Server, port: number, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
