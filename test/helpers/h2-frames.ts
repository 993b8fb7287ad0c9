import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Duplex } from 'node:stream';

/** HTTP/2 written and read by hand (RFC 9113 §4, §6), for frames node:http2 would never send. */

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

export const FRAME = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;
export const ERROR = {
  NO_ERROR: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2, FLOW_CONTROL_ERROR: 3, SETTINGS_TIMEOUT: 4, STREAM_CLOSED: 5, FRAME_SIZE_ERROR: 6,
  REFUSED_STREAM: 7, CANCEL: 8, COMPRESSION_ERROR: 9, CONNECT_ERROR: 10, ENHANCE_YOUR_CALM: 11, INADEQUATE_SECURITY: 12, HTTP_1_1_REQUIRED: 13,
} as const;
export const SETTING = { HEADER_TABLE_SIZE: 1, ENABLE_PUSH: 2, MAX_CONCURRENT_STREAMS: 3, INITIAL_WINDOW_SIZE: 4, MAX_FRAME_SIZE: 5, MAX_HEADER_LIST_SIZE: 6 } as const;

export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly stream: number;
  readonly payload: Buffer;
}

export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

export function settings(entries: readonly (readonly [number, number])[] = [], ack = false): Buffer {
  const payload = Buffer.alloc(entries.length * 6);
  entries.forEach(([id, value], i) => { payload.writeUInt16BE(id, i * 6); payload.writeUInt32BE(value, i * 6 + 2); });
  return frame(FRAME.SETTINGS, ack ? FLAG.ACK : 0, 0, payload);
}

export function ping(data: Buffer, ack = false): Buffer {
  return frame(FRAME.PING, ack ? FLAG.ACK : 0, 0, data);
}

export function rstStream(stream: number, code: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(code);
  return frame(FRAME.RST_STREAM, 0, stream, payload);
}

export function windowUpdate(stream: number, increment: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(increment);
  return frame(FRAME.WINDOW_UPDATE, 0, stream, payload);
}

/** An HPACK integer with an `n`-bit prefix (RFC 7541 §5.1), `first` holding the bits above it. */
function hpackInt(value: number, n: number, first: number): number[] {
  const max = (1 << n) - 1;
  if (value < max) return [first | value];
  const out = [first | max];
  value -= max;
  while (value >= 128) { out.push((value % 128) + 128); value = Math.floor(value / 128); }
  out.push(value);
  return out;
}

/** A header block of literal fields without indexing, names and values as they are (no Huffman): RFC 7541 §6.2.2. */
export function hpack(fields: readonly (readonly [string, string])[]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of fields) {
    const n = Buffer.from(name, 'latin1');
    const v = Buffer.from(value, 'latin1');
    parts.push(Buffer.from([0x00, ...hpackInt(n.length, 7, 0)]), n, Buffer.from(hpackInt(v.length, 7, 0)), v);
  }
  return Buffer.concat(parts);
}

/** A GET of `path` as the fields of a request (to be given to hpack), with `extra` after the pseudo-headers. */
export function get(path: string, extra: readonly (readonly [string, string])[] = []): (readonly [string, string])[] {
  return [[':method', 'GET'], [':scheme', 'https'], [':authority', 'localhost'], [':path', path], ...extra];
}

/** HEADERS (and CONTINUATION frames past `maxFrame` bytes) carrying `block` on `stream`. */
export function headers(stream: number, block: Buffer, endStream = true, maxFrame = 16_384): Buffer {
  const frames: Buffer[] = [];
  for (let at = 0, first = true; first || at < block.length; first = false) {
    const chunk = block.subarray(at, at + maxFrame);
    at += chunk.length;
    const last = at >= block.length;
    const flags = (last ? FLAG.END_HEADERS : 0) | (first && endStream ? FLAG.END_STREAM : 0);
    frames.push(frame(first ? FRAME.HEADERS : FRAME.CONTINUATION, flags, stream, chunk));
  }
  return Buffer.concat(frames);
}

export type Ending = { readonly closed: true };
const CLOSED: Ending = { closed: true };

/**
 * One end of an HTTP/2 connection spoken by hand: every frame the peer sends is kept in order;
 * SETTINGS are acknowledged as they come (the peer's limits then hold in full).
 */
export class H2Wire {
  readonly socket: Duplex;
  readonly frames: Frame[] = [];
  #buffer: Buffer = Buffer.alloc(0);
  #skip: number;
  #waiters: { match: (f: Frame) => boolean; resolve: (f: Frame | Ending) => void }[] = [];
  #closed = false;

  /** `server`: the peer starts with the client preface, which is checked and skipped. */
  constructor(socket: Duplex, server = false) {
    this.socket = socket;
    this.#skip = server ? PREFACE.length : 0;
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => this.#read(chunk));
    socket.on('close', () => {
      this.#closed = true;
      for (const w of this.#waiters.splice(0)) w.resolve(CLOSED);
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  send(...bytes: Buffer[]): void {
    if (!this.#closed) this.socket.write(Buffer.concat(bytes));
  }

  /** The first frame, past or future, that matches; or the end of the connection. */
  next(match: (f: Frame) => boolean): Promise<Frame | Ending> {
    const found = this.frames.find(match);
    if (found !== undefined) return Promise.resolve(found);
    if (this.#closed) return Promise.resolve(CLOSED);
    return new Promise((resolve) => this.#waiters.push({ match, resolve }));
  }

  /** The peer's GOAWAY (its error code and last stream id), or undefined when the connection ended without one. */
  async goaway(): Promise<{ code: number; lastStream: number } | undefined> {
    const f = await this.next((x) => x.type === FRAME.GOAWAY);
    if ('closed' in f) return undefined;
    return { lastStream: f.payload.readUInt32BE(0) & 0x7fffffff, code: f.payload.readUInt32BE(4) };
  }

  /** The RST_STREAM of `stream`, or the GOAWAY that ended it, or the end of the connection. */
  async streamEnd(stream: number): Promise<{ frame: 'RST_STREAM' | 'GOAWAY'; code: number } | Ending> {
    const f = await this.next((x) => (x.type === FRAME.RST_STREAM && x.stream === stream) || x.type === FRAME.GOAWAY);
    if ('closed' in f) return f;
    return f.type === FRAME.RST_STREAM ? { frame: 'RST_STREAM', code: f.payload.readUInt32BE(0) } : { frame: 'GOAWAY', code: f.payload.readUInt32BE(4) };
  }

  /** Resolves once the connection has ended. */
  async ended(): Promise<void> {
    if (!this.#closed) await once(this.socket, 'close');
  }

  #read(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    if (this.#skip > 0) {
      if (this.#buffer.length < this.#skip) return;
      if (!this.#buffer.subarray(0, PREFACE.length).equals(PREFACE)) {
        this.socket.destroy(); // not an HTTP/2 client
        return;
      }
      this.#buffer = this.#buffer.subarray(this.#skip);
      this.#skip = 0;
    }
    while (this.#buffer.length >= 9) {
      const length = this.#buffer.readUIntBE(0, 3);
      if (this.#buffer.length < 9 + length) break;
      const f: Frame = { type: this.#buffer[3]!, flags: this.#buffer[4]!, stream: this.#buffer.readUInt32BE(5) & 0x7fffffff, payload: this.#buffer.subarray(9, 9 + length) };
      this.#buffer = this.#buffer.subarray(9 + length);
      this.frames.push(f);
      if (f.type === FRAME.SETTINGS && (f.flags & FLAG.ACK) === 0) this.send(settings([], true));
      for (const w of [...this.#waiters]) {
        if (w.match(f)) { this.#waiters.splice(this.#waiters.indexOf(w), 1); w.resolve(f); }
      }
    }
  }
}

/**
 * A client connection to a TLS listener, `h2` by ALPN, that has sent its preface and an empty
 * SETTINGS frame, and has the server's SETTINGS (acknowledged).
 */
export async function connectH2(port: number, ca: string, t: { after(fn: () => unknown): void }): Promise<H2Wire> {
  const socket = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost', ALPNProtocols: ['h2'] });
  t.after(() => socket.destroy());
  await once(socket, 'secureConnect');
  if (socket.alpnProtocol !== 'h2') throw new Error(`ALPN chose ${String(socket.alpnProtocol)}, not h2`);
  const wire = new H2Wire(socket);
  wire.send(PREFACE, settings());
  await wire.next((f) => f.type === FRAME.SETTINGS && (f.flags & FLAG.ACK) === 0);
  return wire;
}

/** A cleartext HTTP/2 server (h2c, prior knowledge) on 127.0.0.1 whose every connection is handed to `onConnection` as a wire that has sent its SETTINGS. */
export async function startRawH2Server(t: { after(fn: () => unknown): void }, onConnection: (wire: H2Wire) => void): Promise<{ server: Server; port: number }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    const wire = new H2Wire(socket, true);
    wire.send(settings());
    onConnection(wire);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  return { server, port: (server.address() as AddressInfo).port };
}
