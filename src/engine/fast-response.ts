import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { ClientResponse } from '../context/index.js';
import { isHeader } from '../proxy/headers.js';
import type { SocketWriter } from './direct-io.js';

/** How a relayed response's body is delimited towards the client. */
export const enum Framing {
  /** Content-Length is among the headers (or there is no body: 204, 304, HEAD). */
  Given = 0,
  /** Unknown length: chunked to an HTTP/1.1 client, until the close to HTTP/1.0. */
  Chunked = 1,
}

/** What the connection does for a response: its clock, and what happens when it ends. */
export interface ResponseOwner {
  readonly socket: Socket;
  /** The socket's writes. */
  readonly writer: SocketWriter;
  /** The `Date` header line (CRLF included) for this second, made once a second. */
  readonly dateLine: string;
  /** `Connection: keep-alive`, `Keep-Alive: timeout=N` and the blank line ending a head. */
  readonly keepAliveLines: string;
  readonly draining: boolean;
  ended(response: FastResponse): void;
}

/** What a response waiting for its turn holds before it asks its backend to wait (node's highWaterMark). */
const HOLD_LIMIT = 64 * 1024;

/** Body chunks up to this size are sent in one string with the head. */
const SMALL = 4096;

const REASONS: string[] = [];
for (const [code, text] of Object.entries(STATUS_CODES)) REASONS[Number(code)] = text ?? '';

/**
 * A response of the fast engine: its head written as one string (status line, headers in the
 * order given, then the framing and connection headers node:http would add), its body passed
 * through as the buffers it comes in, chunked when its length is unknown.
 */
export class FastResponse implements ClientResponse {
  statusCode = 200;
  headersSent = false;
  shouldKeepAlive: boolean;
  finished = false;
  /** The request was HEAD: the head is sent, a body never. */
  readonly #headOnly: boolean;
  /** The response head, until the first body bytes (or the end) take it along. */
  #head: string | undefined = undefined;
  readonly #http10: boolean;
  readonly #owner: ResponseOwner;
  #headers: string[] | undefined = undefined;
  #chunked = false;
  /**
   * Whether it owns the socket: only the first response of a connection does. One pipelined
   * behind it is kept here until its turn, as node:http keeps it (a full buffer says "wait").
   */
  #attached = false;
  #buffer: (Buffer | string)[] | undefined = undefined;
  #buffered = 0;
  #ending = false;

  constructor(owner: ResponseOwner, keepAlive: boolean, head: boolean, http10: boolean) {
    this.#owner = owner;
    this.shouldKeepAlive = keepAlive;
    this.#headOnly = head;
    this.#http10 = http10;
  }

  setHeader(name: string, value: string | number): this {
    const headers = this.#headers ??= [];
    const lower = name.toLowerCase();
    for (let i = 0; i < headers.length; i += 2) {
      if (isHeader(headers[i]!, lower)) {
        headers.splice(i, 2);
        break;
      }
    }
    headers.push(name, String(value));
    return this;
  }

  appendHeader(name: string, value: string): this {
    (this.#headers ??= []).push(name, value);
    return this;
  }

  /** Bytes written to the client and not yet taken by it. */
  get writableLength(): number {
    return this.#attached ? this.#owner.writer.queued : this.#buffered;
  }

  get attached(): boolean {
    return this.#attached;
  }

  /** Whether its socket copies a chunk written while nothing waits before it (see SocketWriter.copies). */
  get copies(): boolean {
    return this.#attached && this.#owner.writer.copies;
  }

  /** Its turn on the socket: what it holds goes out; true if it has ended meanwhile (the connection then moves on). */
  attach(): boolean {
    this.#attached = true;
    const buffer = this.#buffer;
    if (buffer !== undefined) {
      this.#buffer = undefined;
      this.#buffered = 0;
      const socket = this.#owner.socket;
      socket.cork();
      for (const data of buffer) socket.write(data as Buffer);
      socket.uncork();
    }
    return this.#ending;
  }

  /** Writes to the socket when attached, else holds; false when the caller should wait for 'drain'. */
  #out(data: Buffer | string): boolean {
    if (this.#attached) return this.#owner.writer.write(data);
    // A copy: a body chunk may be a slice of a read buffer that is reused once this returns.
    (this.#buffer ??= []).push(typeof data === 'string' ? Buffer.from(data, 'latin1') : Buffer.from(data));
    this.#buffered += data.length;
    return this.#buffered < HOLD_LIMIT;
  }

  /**
   * Writes the head of a response: `headers` already rewritten (a Content-Length among them
   * when `framing` is Given and the status has a body).
   */
  writeHead(status: number, headers: readonly string[], framing: Framing): void {
    let lines = '';
    let date = false;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      if (isHeader(name, 'date')) date = true;
      lines += `${name}: ${headers[i + 1]!}\r\n`;
    }
    this.writeHeadLines(status, lines, date, framing);
  }

  /**
   * `writeHead` with the headers as lines already (`name: value` and CRLF each): `date` says
   * whether a Date is among them.
   */
  writeHeadLines(status: number, lines: string, date: boolean, framing: Framing): void {
    this.statusCode = status;
    let head = `HTTP/1.1 ${status} ${REASONS[status] ?? 'Unknown'}\r\n${lines}`;
    if (!date) head += this.#owner.dateLine;
    if (framing === Framing.Chunked && !this.#headOnly && status !== 204 && status !== 304) {
      if (this.#http10) this.shouldKeepAlive = false;
      else {
        this.#chunked = true;
        head += 'Transfer-Encoding: chunked\r\n';
      }
    }
    head += this.#connectionHeaders();
    this.headersSent = true;
    // Sent with the first body bytes (or the end): one write, one system call, for most responses.
    this.#head = head;
  }

  /** Writes a body chunk; false when the client has not taken what it was sent (wait for drain). */
  write(chunk: Buffer): boolean {
    if (this.#headOnly || chunk.length === 0) return true;
    let head = this.#head;
    if (head !== undefined) this.#head = undefined;
    if (this.#chunked) head = `${head ?? ''}${chunk.length.toString(16)}\r\n`;
    if (head === undefined) return this.#out(chunk);
    // A small chunk goes in the same string as what precedes it; a large one in the same writev.
    if (chunk.length <= SMALL && !this.#chunked) return this.#out(head + chunk.toString('latin1'));
    const tail = this.#chunked ? '\r\n' : '';
    if (this.#attached) return this.#owner.writer.writeAround(head, chunk, tail);
    this.#out(head);
    const more = this.#out(chunk);
    return tail === '' ? more : this.#out(tail);
  }

  /**
   * Ends the response: `body` is a whole generated body (the head not sent yet), else the end of
   * a relayed one. `trailers`: trailer lines (`name: value` and CRLF each) after a chunked body's
   * last chunk; with no chunked body (a length, HEAD, an HTTP/1.0 client) there is no place for
   * them, and they are dropped.
   */
  end(body?: Buffer, trailers = ''): void {
    if (this.finished || this.#ending) return;
    if (!this.headersSent) {
      const headers = this.#headers ?? [];
      const length = body?.length ?? 0;
      let hasLength = false;
      for (let i = 0; i < headers.length; i += 2) if (isHeader(headers[i]!, 'content-length')) hasLength = true;
      this.writeHead(this.statusCode, hasLength || this.statusCode === 204 || this.statusCode === 304 ? headers : [...headers, 'Content-Length', String(length)], Framing.Given);
      if (body !== undefined && length > 0 && !this.#headOnly) this.write(body);
      else this.#out(this.#head!);
      this.#head = undefined;
    } else if (this.#head !== undefined) {
      this.#out(this.#chunked ? `${this.#head}0\r\n${trailers}\r\n` : this.#head);
      this.#head = undefined;
    } else if (this.#chunked) {
      this.#out(trailers === '' ? '0\r\n\r\n' : `0\r\n${trailers}\r\n`);
    }
    this.#ending = true;
    if (this.#attached) this.#owner.ended(this);
  }

  destroy(): void {
    this.#owner.socket.destroy();
  }

  #connectionHeaders(): string {
    if (this.#owner.draining) this.shouldKeepAlive = false;
    if (!this.shouldKeepAlive) return 'Connection: close\r\n\r\n';
    return this.#owner.keepAliveLines;
  }
}
