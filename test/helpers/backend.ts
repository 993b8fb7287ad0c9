import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { listen } from './ports.js';

export interface TestBackend {
  readonly name: string;
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  /** TCP connections accepted since start. */
  connections: number;
  /** Connections open right now. */
  readonly sockets: Set<Socket>;
  /** Requests received, health checks included. */
  readonly requests: IncomingMessage[];
  /** Resolves with the next request whose path is not /health. */
  nextRequest(): Promise<IncomingMessage>;
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, backend: TestBackend) => void;

/** Answers its name on every path; `/health` answers 200. */
export const nameHandler: Handler = (req, res, backend) => {
  req.resume();
  res.end(backend.name);
};

/**
 * Where a test backend listens: 127.0.0.1 (or `host`) on an ephemeral port, or on `port`, or with
 * `port: 'dedicated'` on one no other server can be given once this one closes (see ports.ts):
 * for a backend the test closes to make it refuse, or binds again.
 */
export interface ListenAt { host?: string; port?: number | 'dedicated' }

/** A real HTTP backend on 127.0.0.1 (or `at.host`) with an ephemeral port (or `at.port`). */
export async function startBackend(name: string, handler: Handler = nameHandler, at: ListenAt = {}): Promise<TestBackend> {
  const waiters: ((req: IncomingMessage) => void)[] = [];
  const server = createServer();
  server.keepAliveTimeout = 60_000;
  const host = at.host ?? '127.0.0.1';
  await listen(server, host, at.port ?? 0);
  const port = (server.address() as AddressInfo).port;
  const backend: TestBackend = {
    name,
    port,
    url: `http://${host}:${port}`,
    server,
    connections: 0,
    sockets: new Set(),
    requests: [],
    nextRequest: () => new Promise((resolve) => waiters.push(resolve)),
    async close() {
      if (!server.listening) return;
      server.close();
      server.closeAllConnections();
      await once(server, 'close');
    },
  };
  server.on('connection', (socket: Socket) => {
    backend.connections++;
    backend.sockets.add(socket);
    socket.once('close', () => backend.sockets.delete(socket));
  });
  // A proxy that gives up on a request closes the connection mid-message; that is expected here.
  server.on('clientError', (_err, socket) => socket.destroy());
  server.on('request', (req, res) => {
    req.on('error', () => undefined);
    res.on('error', () => undefined);
    backend.requests.push(req);
    if (req.url !== '/health') waiters.shift()?.(req);
    handler(req, res, backend);
  });
  return backend;
}

/** Backends named a, b, c (or `names`), closed when the test ends. */
export async function startBackends(t: { after(fn: () => unknown): void }, handler?: Handler, names = ['a', 'b', 'c'], at?: ListenAt): Promise<TestBackend[]> {
  const backends = await Promise.all(names.map((n) => startBackend(n, handler, at)));
  t.after(() => Promise.all(backends.map((b) => b.close())));
  return backends;
}
