import { once } from 'node:events';
import { connect, type Socket } from 'node:net';

/** A response read off raw bytes. */
export interface RawResponseRead {
  readonly status: number;
  /** Header lines as received, name and value, in order. */
  readonly headers: readonly (readonly [string, string])[];
  readonly body: Buffer;
}

/**
 * A client on a plain socket: writes exact bytes, keeps every byte received, and waits on data
 * and close events for what a case expects (whole responses, a close).
 */
export class RawClient {
  readonly socket: Socket;
  received = Buffer.alloc(0);
  readonly closed: Promise<void>;
  #waiters: (() => void)[] = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      this.#wake();
    });
    this.closed = new Promise((resolve) => socket.once('close', () => { resolve(); this.#wake(); }));
  }

  static async connect(port: number): Promise<RawClient> {
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    return new RawClient(socket);
  }

  write(bytes: string | Buffer): void {
    this.socket.write(bytes);
  }

  get isClosed(): boolean {
    return this.socket.destroyed;
  }

  /** Resolves once `count` whole responses have arrived (rejects if the connection closes first). */
  async responses(count: number): Promise<RawResponseRead[]> {
    for (;;) {
      const read = readResponses(this.received);
      if (read.length >= count) return read;
      if (this.socket.destroyed) throw new Error(`the connection closed after ${read.length} of ${count} responses: ${this.received.toString('latin1').slice(0, 300)}`);
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /**
   * Resolves once the bytes received satisfy `condition`, or the connection has closed, or (with
   * `giveUpMs`, for a case about behaviour still to come) that long has passed: the caller then
   * asserts on what did arrive.
   */
  async until(condition: (received: Buffer) => boolean, giveUpMs?: number): Promise<void> {
    let gaveUp = false;
    const timer = giveUpMs === undefined ? undefined : setTimeout(() => { gaveUp = true; this.#wake(); }, giveUpMs);
    while (!condition(this.received) && !this.socket.destroyed && !gaveUp) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    clearTimeout(timer);
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  close(): void {
    this.socket.destroy();
  }
}

/** The whole responses at the start of `bytes` (Content-Length, chunked or bodiless ones), in order. */
export function readResponses(bytes: Buffer): RawResponseRead[] {
  const out: RawResponseRead[] = [];
  let at = 0;
  for (;;) {
    const end = bytes.indexOf('\r\n\r\n', at);
    if (end < 0) return out;
    const lines = bytes.subarray(at, end).toString('latin1').split('\r\n');
    const status = Number(lines[0]!.split(' ')[1]);
    const headers = lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()] as const);
    const header = (name: string): string | undefined => headers.find(([n]) => n.toLowerCase() === name)?.[1];
    let bodyStart = end + 4;
    if (status === 101 || status === 204 || status === 304) {
      out.push({ status, headers, body: Buffer.alloc(0) });
      if (status === 101) return out;
      at = bodyStart;
      continue;
    }
    const length = header('content-length');
    if (length !== undefined) {
      if (bytes.length < bodyStart + Number(length)) return out;
      out.push({ status, headers, body: bytes.subarray(bodyStart, bodyStart + Number(length)) });
      at = bodyStart + Number(length);
      continue;
    }
    if (header('transfer-encoding')?.toLowerCase() !== 'chunked') return out;
    const parts: Buffer[] = [];
    for (;;) {
      const lineEnd = bytes.indexOf('\r\n', bodyStart);
      if (lineEnd < 0) return out;
      const size = parseInt(bytes.subarray(bodyStart, lineEnd).toString('latin1'), 16);
      if (size === 0) {
        const trailerEnd = bytes.indexOf('\r\n\r\n', lineEnd);
        if (trailerEnd < 0) return out;
        out.push({ status, headers, body: Buffer.concat(parts) });
        at = trailerEnd + 4;
        break;
      }
      if (bytes.length < lineEnd + 2 + size + 2) return out;
      parts.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size));
      bodyStart = lineEnd + 2 + size + 2;
    }
  }
}

/** The values of header `name` (any case), in order. */
export function values(headers: readonly (readonly [string, string])[], name: string): string[] {
  return headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
}
