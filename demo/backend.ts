import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How a demo backend behaves: switched at `/demo/<mode>` on the backend's own port. */
export type DemoMode = 'ok' | 'slow' | 'fail' | 'down';
const MODES: readonly DemoMode[] = ['ok', 'slow', 'fail', 'down'];

/**
 * A small but realistic backend: `GET /` answers `Backend N` after a few milliseconds (varying,
 * so the dashboard's charts move), `/health` answers 200, `/echo` returns the request's method,
 * path and headers as JSON. On its own port, `/demo/slow` adds half a second to every answer,
 * `/demo/fail` answers 503 to everything but `/health` (outlier detection ejects it),
 * `/demo/down` fails `/health` too, and `/demo/ok` makes it well again.
 */
export function createDemoBackend(name: string, jitterMs = 8): Server {
  const hello = Buffer.from(`${name}\n`);
  let mode: DemoMode = 'ok';
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const switched = /^\/demo\/(\w+)$/.exec(path)?.[1] as DemoMode | undefined;
    if (switched !== undefined && MODES.includes(switched)) {
      mode = switched;
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`${name} is now ${mode}\n`);
      return;
    }
    if (path === '/health') {
      res.writeHead(mode === 'down' ? 503 : 200, { 'content-type': 'text/plain' }).end(mode === 'down' ? 'down\n' : 'ok\n');
      return;
    }
    if (mode === 'fail' || mode === 'down') {
      req.resume();
      res.writeHead(503, { 'content-type': 'text/plain' }).end(`${name} is failing (demo)\n`);
      return;
    }
    const delay = (mode === 'slow' ? 500 : 0) + Math.random() * jitterMs;
    if (delay >= 1) {
      setTimeout(() => answer(req, res, path, name, hello), delay);
      return;
    }
    answer(req, res, path, name, hello);
  });
}

function answer(req: IncomingMessage, res: ServerResponse, path: string, name: string, hello: Buffer): void {
  req.resume();
  if (path === '/echo') {
    const body = JSON.stringify({ backend: name, method: req.method, path: req.url, headers: req.headers, rawHeaders: req.rawHeaders }, null, 2);
    res.writeHead(200, { 'content-type': 'application/json' }).end(`${body}\n`);
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': hello.length }).end(hello);
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
