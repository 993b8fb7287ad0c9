import { once } from 'node:events';
import { request as httpRequest, type IncomingHttpHeaders, type RequestOptions } from 'node:http';
import { connect, type Socket } from 'node:net';

export interface Response {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: string[];
  readonly body: string;
}

/** One request on a fresh connection (no agent), body read whole. */
export async function get(url: string, options: RequestOptions & { body?: string } = {}): Promise<Response> {
  const req = httpRequest(url, { agent: false, ...options });
  req.end(options.body);
  const [res] = await once(req, 'response') as [import('node:http').IncomingMessage];
  res.setEncoding('latin1');
  let body = '';
  for await (const chunk of res) body += chunk as string;
  return { status: res.statusCode!, headers: res.headers, rawHeaders: res.rawHeaders, body };
}

/** Opens a TCP connection to the balancer. */
export async function rawConnect(port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  return socket;
}

/**
 * Sends raw bytes and resolves with everything the server sends until it closes the
 * connection or `idleMs` pass without data (for a kept-alive connection).
 */
export async function rawExchange(port: number, bytes: string | Buffer, idleMs = 500): Promise<string> {
  const socket = await rawConnect(port);
  socket.setEncoding('latin1');
  let data = '';
  return new Promise((resolve) => {
    let timer = setTimeout(done, idleMs);
    function done(): void { socket.destroy(); resolve(data); }
    socket.on('data', (chunk: string) => { data += chunk; clearTimeout(timer); timer = setTimeout(done, idleMs); });
    socket.on('close', () => { clearTimeout(timer); resolve(data); });
    socket.on('error', () => undefined);
    socket.write(bytes);
  });
}

/**
 * Resolves when the socket has closed, however it closed (a reset is not a test failure). The
 * socket is put in flowing mode: a paused socket never reads the peer's FIN, so never closes.
 */
export function whenClosed(socket: Socket): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  socket.on('error', () => undefined);
  socket.resume();
  return new Promise((resolve) => socket.once('close', () => resolve()));
}
