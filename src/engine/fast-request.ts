import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { ClientRequest } from '../context/index.js';
import { discardableBody, headersObject, isHeader, type ForwardingCache } from '../proxy/headers.js';

/** Where a request's body goes once it has an upstream try writing it. */
export interface BodySink {
  /** Takes a chunk of the request body; false: stop reading the client until `resume`. */
  body(chunk: Buffer): boolean;
  /** The body is complete (its trailers, if any, are the request's `rawTrailers`). */
  bodyEnd(): void;
}


/**
 * A request as the fast engine parsed it: the head's fields as node:http names them (so the
 * chain and the strategies read it the same way), and its body, held until a try takes it.
 */
export class FastRequest implements ClientRequest {
  method: string;
  url: string;
  /** Replaced (never edited in place) by a route's header modifier or rewrite. */
  rawHeaders: string[];
  /** 1, or what a request line claiming another version said (the listener refuses it). */
  readonly httpVersionMajor: number;
  readonly httpVersionMinor: number;
  readonly socket: Socket;
  /** llhttp's verdict: the client wants the connection kept after this exchange. */
  readonly keepAlive: boolean;
  readonly upgrade: boolean;
  complete = false;
  /** A chunked body's trailers (name, value, …), once the body is complete; undefined when it had none. */
  rawTrailers: string[] | undefined = undefined;
  /** Body chunks that came before a try could take them. */
  pending: Buffer[] | undefined = undefined;
  pendingBytes = 0;
  /** The try writing the body, once there is one. */
  sink: BodySink | undefined = undefined;
  /** The client connection it came on: its reading resumes when the body may flow again. */
  connection: (ForwardingCache & { resume(): void }) | undefined = undefined;
  #headers: IncomingHttpHeaders | undefined = undefined;

  constructor(socket: Socket, method: string, url: string, versionMajor: number, versionMinor: number, rawHeaders: string[], keepAlive: boolean, upgrade: boolean) {
    this.socket = socket;
    this.method = method;
    this.url = url;
    this.httpVersionMajor = versionMajor;
    this.httpVersionMinor = versionMinor;
    this.rawHeaders = rawHeaders;
    this.keepAlive = keepAlive;
    this.upgrade = upgrade;
  }

  /** The headers by lowercase name, as node:http builds them; made on first use. */
  get headers(): IncomingHttpHeaders {
    return (this.#headers ??= headersObject(this.rawHeaders));
  }

  /** Set with a new `rawHeaders` (see replaceRawHeaders), as node:http's IncomingMessage allows. */
  set headers(headers: IncomingHttpHeaders) {
    this.#headers = headers;
  }

  /** The first value of a header, by lowercase name, read from the raw list (no headers object made). */
  header(lower: string): string | undefined {
    const raw = this.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      if (isHeader(name, lower)) return raw[i + 1];
    }
    return undefined;
  }

  /** A body chunk from the parser: to the try writing it, or kept until there is one. */
  body(chunk: Buffer): boolean {
    if (this.sink !== undefined) return this.sink.body(chunk);
    // A view of the socket's read buffer, which node never reuses.
    (this.pending ??= []).push(chunk);
    this.pendingBytes += chunk.length;
    return false;
  }

  bodyEnd(trailers: string[] | undefined): void {
    this.complete = true;
    this.rawTrailers = trailers;
    this.sink?.bodyEnd();
  }
}

/** A request whose body is bounded by its Content-Length and at most DISCARD_LIMIT (see discardableBody). */
export function discardable(req: FastRequest): boolean {
  return discardableBody(req.header('content-length'));
}
