import type { RequestContext } from '../context/index.js';
import type { Backend } from '../pool/index.js';
import type { Attempt, Stream } from '../proxy/index.js';
import { toProxyError } from '../errors/index.js';
import { acceptsTrailers, downstreamResponseLines, isHeader, trailerLines, upstreamRequestLines, type RequestHeaderInfo, type ResponseHeadInfo } from '../proxy/headers.js';
import { openTunnel } from '../proxy/tunnel.js';
import { encodeHead, endResponse, relayHead, type RelaySink } from '../proxy/response-relay.js';
import { discardable, type BodySink, type FastRequest } from './fast-request.js';
import { Framing, type FastResponse } from './fast-response.js';
import type { ConnectionUser, FastUpstream, UpstreamConnection } from './fast-upstream.js';
import { outgoingProxyHeader } from '../edge/proxy-send.js';

/** What the response head's rewriting noticed; one for all: it is read right after being written. */
const headInfo: ResponseHeadInfo = { date: false, length: false };

/** The request's head towards backends, made once per request (a retry reuses it). */
export interface UpstreamHead {
  /** Header lines, each ending in CRLF, then the framing; without the request line. */
  readonly lines: string;
  readonly hasBody: boolean;
  /** The client sent a chunked body: it is re-chunked to the backend. */
  readonly chunked: boolean;
}

/** What a stream needs of its engine. */
export interface StreamHost {
  /** The client connection's reading resumes (the backend took the body chunk). */
  resumeClient(req: FastRequest): void;
  /** MAX_BODY_SIZE (0: unlimited), counted here for chunked bodies. */
  readonly maxBody: number;
  readonly tunnelIdleTimeout: number;
}

/**
 * One attempt's bytes in the fast engine: the request head written as one string, the body
 * passed through as it is read (re-chunked when it came chunked), the response relayed as it
 * comes. Policy (deadlines, retries, accounting) is the Attempt's; this only moves bytes and
 * reports what happened.
 */
export class FastStream implements Stream, BodySink, ConnectionUser, RelaySink<string[]> {
  readonly head: UpstreamHead;
  readonly #attempt: Attempt;
  readonly #host: StreamHost;
  readonly #ctx: RequestContext;
  readonly #req: FastRequest;
  readonly #res: FastResponse;
  readonly #upstream: FastUpstream;
  #connection: UpstreamConnection | undefined = undefined;
  #responded = false;
  #requestSent = false;
  #upstreamPaused = false;

  constructor(attempt: Attempt, host: StreamHost, upstream: FastUpstream, head: UpstreamHead | undefined) {
    this.#attempt = attempt;
    this.#host = host;
    this.#ctx = attempt.ctx;
    this.#req = attempt.ctx.req as FastRequest;
    this.#res = attempt.ctx.res as FastResponse;
    this.#upstream = upstream;
    this.head = head ?? makeHead(this.#ctx, this.#req, attempt.backend);
  }

  get waitingOnClient(): boolean {
    // The body is being read (the backend is taking what it gets).
    return !this.#req.complete && this.#connection !== undefined && this.#connection.writer.queued === 0;
  }

  get unsent(): number {
    return this.#res.writableLength;
  }

  /** Asks for a connection; the request is written once there is one. */
  dispatch(): void {
    const attempt = this.#attempt;
    attempt.hasBody = this.head.hasBody;
    attempt.dispatched = true;
    if (attempt.hasBody) attempt.uploading();
    // A chunked body may break in the packet that brought its head: dispatching on the next
    // turn lets the parser refuse it (400) before anything of it goes upstream, as the node engine does.
    if (this.head.chunked && !this.#req.complete) setImmediate(acquireLater, this);
    else this.acquire();
  }

  /** Asks the backend's connections for one (see `dispatch`); nothing once the attempt has ended. */
  acquire(): void {
    const attempt = this.#attempt;
    if (attempt.ended) return;
    const mode = attempt.backend.proxyProtocol;
    // An idle connection is handed over within `acquire`; a new one once it has connected.
    this.#acquiring = true;
    this.#upstream.acquire(this, mode === 'off' ? undefined : outgoingProxyHeader(this.#ctx.socket, this.#ctx.clientIp, mode === 'v1' ? 1 : 2));
    this.#acquiring = false;
  }

  #acquiring = false;

  connected(connection: UpstreamConnection): void {
    const attempt = this.#attempt;
    if (attempt.span !== undefined) attempt.span.reused = this.#acquiring;
    if (attempt.ended) {
      this.#upstream.release(connection, connection.open);
      return;
    }
    this.#connection = connection;
    attempt.writing();
    const req = this.#req;
    const head = this.head;
    const path = attempt.backend.pathPrefix !== '' ? attempt.backend.pathPrefix + req.url : req.url;
    // A traced request's backend gets this try's span as its parent (the head is shared by retries: the line is not in it).
    const span = attempt.span;
    const requestHead = span === undefined ? `${req.method} ${path} HTTP/1.1\r\n${head.lines}` : `${req.method} ${path} HTTP/1.1\r\ntraceparent: ${span.traceparent}\r\n${head.lines}`;
    if (!head.hasBody) {
      connection.writer.write(requestHead);
      this.#sent();
      return;
    }
    // The head and what is already here of the body in one write.
    const socket = connection.socket;
    socket.cork();
    socket.write(requestHead, 'latin1');
    const pending = req.pending;
    if (pending !== undefined) {
      req.pending = undefined;
      req.pendingBytes = 0;
      for (const chunk of pending) this.#writeBody(chunk);
    }
    if (!attempt.ended) {
      req.sink = this;
      if (req.complete) this.bodyEnd();
      else this.#host.resumeClient(req);
    }
    socket.uncork();
  }

  body(chunk: Buffer): boolean {
    return this.#writeBody(chunk);
  }

  bodyEnd(): void {
    if (this.#attempt.ended || this.#connection === undefined) return;
    if (this.head.chunked) {
      // The client's trailers follow its body to the backend, as they go on (trailerLines).
      const trailers = this.#req.rawTrailers;
      this.#connection.writer.write(trailers === undefined ? '0\r\n\r\n' : `0\r\n${trailerLines(trailers)}\r\n`);
    }
    this.#sent();
  }

  drained(): void {
    if (!this.#attempt.ended && !this.#req.complete) this.#host.resumeClient(this.#req);
  }

  onHead(_minor: number, rawHeaders: string[], status: number, statusText: string, upgrade: boolean): boolean {
    if (status < 200 && !(status === 101 && upgrade)) return false;
    const attempt = this.#attempt;
    if (!attempt.responded(status)) return true;
    this.#responded = true;
    if (status === 101) {
      this.#tunnel(statusText, rawHeaders);
      return true;
    }
    const ctx = this.#ctx;
    if (attempt.closing || ctx.upgrade) this.#res.shouldKeepAlive = false;
    // An early answer to a large upload: the connection will close once it has gone (see ClientConnection.ended).
    if (!this.#req.complete && this.#req.header('content-length') !== undefined && !discardable(this.#req)) this.#res.shouldKeepAlive = false;
    // A route's ResponseHeaderModifier and the hooks edit the backend's fields (X-Request-Id is ours, added after).
    if (!relayHead(attempt, this, status, rawHeaders)) {
      // A hook holds the head (an asynchronous onResponse): the backend's socket pauses until the relay's `ready`.
      this.#pauseUpstream();
    }
    return this.#req.method === 'HEAD';
  }

  get clientGone(): boolean {
    return this.#req.socket.destroyed;
  }

  /** The response head, compressed as the attempt chooses, then our own fields. */
  sendHead(status: number, rawHeaders: string[]): void {
    const attempt = this.#attempt;
    const ctx = this.#ctx;
    const res = this.#res;
    const headers = encodeHead(attempt, this, status, rawHeaders);
    let lines = downstreamResponseLines(headers, ctx.id, headInfo);
    let date = headInfo.date;
    const extra = ctx.responseHeaders;
    if (extra !== undefined) {
      for (let i = 0; i < extra.length; i += 2) {
        lines += `${extra[i]}: ${extra[i + 1]}\r\n`;
        if (isHeader(extra[i]!, 'date')) date = true;
      }
    }
    const explain = attempt.explained();
    if (explain !== undefined) lines += `x-lb-explain: ${explain}\r\n`;
    res.writeHeadLines(status, lines, date, headInfo.length ? Framing.Given : Framing.Chunked);
    attempt.receiving();
  }

  onBody(chunk: Buffer): void {
    const attempt = this.#attempt;
    if (attempt.ended) return;
    attempt.received();
    const relay = attempt.relay;
    if (relay !== undefined) {
      // Kept while a hook holds the head, or compressed: a copy, since the chunk is a slice of a read buffer reused once this returns.
      if (!relay.data(Buffer.from(chunk))) this.#pauseUpstream();
      return;
    }
    this.#ctx.bytes += chunk.length;
    const connection = this.#connection!;
    const res = this.#res;
    const before = res.writableLength;
    const more = res.write(chunk);
    // Written but not all sent: the client's socket holds on to the chunk, a slice of the
    // connection's read buffer. A TLS socket encrypts (copies) what it is given at once, unless
    // it queues behind what it is still sending.
    if (res.copies ? before > 0 : res.writableLength > 0) connection.lend();
    if (more) return;
    this.#pauseUpstream();
    attempt.stalled(this.#res.attached);
  }

  onMessageEnd(trailers?: string[]): void {
    if (!this.#responded) return; // a 1xx
    const connection = this.#connection;
    this.#connection = undefined;
    const req = this.#req;
    if (req.sink === this) req.sink = undefined;
    if (connection !== undefined) this.#upstream.release(connection, connection.keepAlive && this.#requestSent && !this.#attempt.ended);
    endResponse(this.#attempt, this, trailers);
  }

  /** Body bytes from the relay (compressed, or kept while the head was held); false when the client is full. */
  output(chunk: Buffer): boolean {
    this.#ctx.bytes += chunk.length;
    if (this.#res.write(chunk)) return true;
    this.#attempt.stalled(this.#res.attached);
    return false;
  }

  /** A held head has gone, or the compressor takes more: the backend's socket is read again. */
  ready(): void {
    if (this.#upstreamPaused && !this.#attempt.ended) {
      this.#upstreamPaused = false;
      this.#connection?.socket.resume();
    }
  }

  failed(err: Error): void {
    this.#close();
    this.#attempt.failed(toProxyError(err, this.#attempt));
  }

  #pauseUpstream(): void {
    this.#connection!.socket.pause();
    this.#upstreamPaused = true;
  }

  sendEnd(trailers: string[] | undefined): void {
    const req = this.#req;
    // The backend's trailers go on to a client that takes them (TE: trailers), those that may.
    if (trailers === undefined || !acceptsTrailers(req.rawHeaders, req.httpVersionMajor)) this.#res.end();
    else this.#res.end(undefined, trailerLines(trailers));
  }

  /** The client took some of its response: the backend's socket is read again. */
  clientDrained(): void {
    const attempt = this.#attempt;
    attempt.clientDrained();
    if (attempt.relay?.drained() !== true) this.ready();
  }

  upgraded(rest: Buffer): void {
    if (rest.length > 0 && !this.#req.socket.destroyed) {
      this.#ctx.bytes += rest.length;
      this.#req.socket.write(rest);
    }
  }

  lost(err: Error): void {
    this.#close();
    this.#attempt.failed(toProxyError(err, this.#attempt));
  }

  reset(_reason: Error): void {
    this.#close();
  }

  /** Lets go of the connection, closed: what it carried is incomplete. */
  #close(): void {
    const connection = this.#connection;
    this.#connection = undefined;
    if (this.#req.sink === this) this.#req.sink = undefined;
    if (connection !== undefined) this.#upstream.release(connection, false);
  }

  #writeBody(chunk: Buffer): boolean {
    const attempt = this.#attempt;
    if (attempt.ended) return true;
    attempt.bodySent(chunk.length, chunk);
    // Direct writes (the chunk is the parser's copy: kept alive while libuv sends it); the
    // chunked framing in the same system call as its chunk.
    const writer = this.#connection!.writer;
    if (!this.head.chunked) return writer.write(chunk);
    const max = this.#host.maxBody;
    if (max > 0 && this.#ctx.bytesIn > max) {
      attempt.tooLarge(max);
      return true;
    }
    return writer.writeAround(`${chunk.length.toString(16)}\r\n`, chunk, '\r\n');
  }

  /** The whole request is on the wire. */
  #sent(): void {
    this.#requestSent = true;
    this.#attempt.requestSent();
  }

  #tunnel(statusText: string, rawHeaders: string[]): void {
    const attempt = this.#attempt;
    const ctx = this.#ctx;
    const connection = this.#connection!;
    const client = this.#req.socket;
    this.#connection = undefined;
    attempt.upgraded();
    if (client.destroyed) {
      connection.destroy();
      attempt.tunnelClosed();
      return;
    }
    ctx.tunnel = true;
    // The connection lets go of its socket once the parser has returned (see UpstreamConnection).
    openTunnel(ctx, client, connection.socket, statusText, rawHeaders, this.#host.tunnelIdleTimeout, () => attempt.tunnelClosed());
  }
}

/** `setImmediate`'s callback for a chunked body's dispatch: no closure per request. */
function acquireLater(stream: FastStream): void {
  stream.acquire();
}

/** The request's head for backends: the node engine's header rewriting, as one string. */
function makeHead(ctx: RequestContext, req: FastRequest, backend: Backend): UpstreamHead {
  const info: RequestHeaderInfo = { host: undefined, hasBody: false, dropTraceparent: ctx.trace !== undefined };
  let lines = upstreamRequestLines(req.rawHeaders, ctx.clientIp, ctx.proto, ctx.id, info, ctx.upgrade, req.connection ?? { forwardingHost: undefined, forwardingLines: '' });
  if (info.host === undefined) lines += `host: ${new URL(backend.origin).host}\r\n`;
  // TLS_CLIENT_AUTH: the client's verified certificate (a client's own header was dropped above).
  const certificate = ctx.clientCertificate;
  if (certificate !== undefined) lines += `x-forwarded-client-cert: ${certificate.xfcc}\r\n`;
  const chunked = info.hasBody && req.header('content-length') === undefined;
  if (chunked) lines += 'transfer-encoding: chunked\r\n';
  return { lines: `${lines}\r\n`, hasBody: info.hasBody, chunked };
}
