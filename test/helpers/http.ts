import { once } from 'node:events';
import type { Duplex } from 'node:stream';
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
 * Sends raw bytes and resolves with what the server sends, up to the end of the `responses`-th
 * complete response (Content-Length, chunked framing, or no body by status) or the server's
 * close, whichever comes first. When that response announces the close (`Connection: close`,
 * HTTP/1.0), the read goes on to the close: whatever else the server sent before it, such as a
 * response to a smuggled request, is in the result. A response framed only by the close
 * (HTTP/1.0, no length) is read to the close. Not for HEAD: its response cannot be framed from
 * its head alone.
 */
export async function rawExchange(port: number, bytes: string | Buffer, responses = 1): Promise<string> {
  return exchangeOn(await rawConnect(port), bytes, responses);
}

/** `rawExchange` on a socket already connected (a TLS one, say); it is destroyed at the end. */
export function exchangeOn(socket: Duplex, bytes: string | Buffer, responses = 1): Promise<string> {
  socket.setEncoding('latin1');
  let data = '';
  return new Promise((resolve) => {
    socket.on('data', (chunk: string) => {
      data += chunk;
      const framed = responsesIn(data);
      if (framed.complete >= responses && !framed.closes) { socket.destroy(); resolve(data); }
    });
    socket.on('close', () => resolve(data));
    socket.on('error', () => undefined);
    socket.write(bytes);
  });
}

/**
 * How many complete HTTP/1.x responses `data` holds from its start (interim 1xx responses not
 * counted; a 101 counts, and what follows it is no longer HTTP), and whether the last of them
 * announces that the server closes the connection after it. Stops at the first response that is
 * incomplete or ends only with the connection.
 */
export function responsesIn(data: string): { complete: number; closes: boolean } {
  let complete = 0;
  let closes = false;
  let at = 0;
  for (;;) {
    const headEnd = data.indexOf('\r\n\r\n', at);
    if (headEnd < 0) return { complete, closes };
    const lines = data.slice(at, headEnd).split('\r\n');
    const start = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0]!);
    if (start === null) return { complete, closes };
    const status = Number(start[2]);
    const bodyStart = headEnd + 4;
    if (status === 101) return { complete: complete + 1, closes: false };
    if (status < 200) { at = bodyStart; continue; }
    const header = (name: string): string | undefined => {
      const line = lines.find((l) => l.slice(0, l.indexOf(':')).trim().toLowerCase() === name);
      return line?.slice(line.indexOf(':') + 1).trim().toLowerCase();
    };
    let end: number;
    if (status === 204 || status === 304) end = bodyStart;
    else if (header('transfer-encoding')?.endsWith('chunked') === true) {
      end = chunkedEnd(data, bodyStart);
      if (end < 0) return { complete, closes };
    } else if (header('content-length') !== undefined) {
      end = bodyStart + Number(header('content-length'));
      if (data.length < end) return { complete, closes };
    } else {
      return { complete, closes };
    }
    const connection = header('connection')?.split(',').map((t) => t.trim()) ?? [];
    closes = connection.includes('close') || (start[1] === '0' && !connection.includes('keep-alive'));
    complete++;
    at = end;
  }
}

/** Where a chunked body that starts at `from` ends (after its trailers), or -1 while incomplete. */
function chunkedEnd(data: string, from: number): number {
  let at = from;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', at);
    if (lineEnd < 0) return -1;
    const size = Number.parseInt(data.slice(at, lineEnd), 16);
    if (Number.isNaN(size)) return -1;
    if (size === 0) {
      // Trailer fields, then an empty line.
      let t = lineEnd + 2;
      for (;;) {
        const next = data.indexOf('\r\n', t);
        if (next < 0) return -1;
        if (next === t) return next + 2;
        t = next + 2;
      }
    }
    at = lineEnd + 2 + size + 2;
    if (data.length < at) return -1;
  }
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
