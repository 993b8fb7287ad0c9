import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { listen } from './ports.js';

/** One request as a raw backend read it: its head parsed, its body whole. */
export interface RawRequest {
  readonly method: string;
  readonly target: string;
  /** Header lines as sent, name and value, in order. */
  readonly headers: readonly (readonly [string, string])[];
  readonly body: Buffer;
  readonly socket: Socket;
}

/** What a raw backend does with each request: writes bytes on the socket, or not (hangs), or destroys it. */
export type RawScript = (request: RawRequest, backend: RawBackend) => void;

export interface RawBackend {
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  /** Every request read, in order. */
  readonly requests: RawRequest[];
  /** Connections accepted, and those open now. */
  connections: number;
  readonly sockets: Set<Socket>;
  /** Resolves with the next request read. */
  nextRequest(): Promise<RawRequest>;
  close(): Promise<void>;
}

/**
 * A backend on a plain `net` server: it parses request heads and bodies (Content-Length or
 * chunked) and hands each to `script`, which writes exact bytes, stalls, or resets. An Upgrade
 * request's socket is handed over as is: what follows the head is the script's to read.
 */
export async function startRawBackend(script: RawScript, port: number | 'dedicated' = 0): Promise<RawBackend> {
  const waiters: ((r: RawRequest) => void)[] = [];
  const server = createServer();
  await listen(server, '127.0.0.1', port);
  const address = server.address() as { port: number };
  const backend: RawBackend = {
    url: `http://127.0.0.1:${address.port}`,
    port: address.port,
    server,
    requests: [],
    connections: 0,
    sockets: new Set(),
    nextRequest: () => new Promise((resolve) => waiters.push(resolve)),
    async close() {
      for (const socket of backend.sockets) socket.destroy();
      if (server.listening) {
        server.close();
        await once(server, 'close');
      }
    },
  };
  server.on('connection', (socket) => {
    backend.connections++;
    backend.sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => backend.sockets.delete(socket));
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        const parsed = parse(buffered, socket);
        if (parsed === undefined) return;
        buffered = buffered.subarray(parsed.used);
        backend.requests.push(parsed.request);
        const upgrade = parsed.request.headers.some(([n]) => n.toLowerCase() === 'upgrade');
        if (upgrade) {
          socket.off('data', onData);
          if (buffered.length > 0) socket.unshift(buffered);
        }
        waiters.shift()?.(parsed.request);
        script(parsed.request, backend);
        if (upgrade) return;
      }
    };
    socket.on('data', onData);
  });
  return backend;
}

/** One whole request at the start of `bytes`, and how many bytes it took; undefined until it has all arrived. */
function parse(bytes: Buffer, socket: Socket): { request: RawRequest; used: number } | undefined {
  const end = bytes.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const lines = bytes.subarray(0, end).toString('latin1').split('\r\n');
  const [method = '', target = ''] = lines[0]!.split(' ');
  const headers = lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()] as const);
  const header = (name: string): string | undefined => headers.find(([n]) => n.toLowerCase() === name)?.[1];
  let at = end + 4;
  const length = header('content-length');
  if (length !== undefined) {
    if (bytes.length < at + Number(length)) return undefined;
    return { request: { method, target, headers, body: bytes.subarray(at, at + Number(length)), socket }, used: at + Number(length) };
  }
  if (header('transfer-encoding')?.toLowerCase() !== 'chunked') return { request: { method, target, headers, body: Buffer.alloc(0), socket }, used: at };
  const parts: Buffer[] = [];
  for (;;) {
    const lineEnd = bytes.indexOf('\r\n', at);
    if (lineEnd < 0) return undefined;
    const size = parseInt(bytes.subarray(at, lineEnd).toString('latin1'), 16);
    if (size === 0) {
      // The last chunk's line ends where the (empty) trailer section begins.
      const trailerEnd = bytes.indexOf('\r\n\r\n', lineEnd);
      if (trailerEnd < 0) return undefined;
      return { request: { method, target, headers, body: Buffer.concat(parts), socket }, used: trailerEnd + 4 };
    }
    if (bytes.length < lineEnd + 2 + size + 2) return undefined;
    parts.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
}

/** A complete response with a Content-Length body, as bytes. */
export function rawResponse(status: number, body: string, headers: readonly string[] = []): string {
  return [`HTTP/1.1 ${status} ${status === 200 ? 'OK' : 'Status'}`, ...headers, `Content-Length: ${Buffer.byteLength(body)}`, '', body].join('\r\n');
}
