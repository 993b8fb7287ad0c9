import type { Socket } from 'node:net';
import { RequestContext } from '../context/index.js';
import { CLIENT_CLOSED } from '../proxy/index.js';
import type { ForwardingCache } from '../proxy/headers.js';
import { declaresBody, MAX_PIPELINED, parseErrorStatus, writeRawError } from '../http1/index.js';
import { readShared, SocketWriter } from './direct-io.js';
import { BODY, Parser, type HeadResult, type NativeParseError, type ParserEvents } from './llhttp.js';
import { Attempt } from '../proxy/attempt.js';
import { FastStream } from './fast-stream.js';
import { discardable, FastRequest, type BodySink } from './fast-request.js';
import { FastResponse, type ResponseOwner } from './fast-response.js';
import type { FastListener } from './fast-listener.js';
import { PREFACE } from '../server/h2c.js';

const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';

/** How long a closing connection reads and throws away what the client still sends, at most. */
const LINGER_MS = 5_000;

/** The sink of a body whose response has ended: what still comes is read and dropped. */
const DISCARD: BodySink = { body: () => true, bodyEnd: () => undefined };

/** What a lingering connection does with what it reads (see `#linger`): nothing. */
function noop(): void {}


/**
 * One client connection of the fast engine: llhttp parses what the socket reads, each request
 * gets a context and runs the chain at once, and responses go out in request order: the first
 * owns the socket, one pipelined behind it holds what it gets until its turn (as node:http
 * does). The listener's sweep enforces the head and idle timeouts. A TLS socket is read
 * through its 'data' events and written through its stream: it has no TCP handle for
 * `readShared` and SocketWriter's direct writes, which then leave it to net's streams.
 */
export class ClientConnection implements ParserEvents, ResponseOwner, ForwardingCache {
  readonly socket: Socket;
  /** The forwarding headers of this connection's last request, for the next (see upstreamRequestLines). */
  forwardingHost: string | undefined = undefined;
  forwardingLines = '';
  readonly writer: SocketWriter;
  readonly #listener: FastListener;
  readonly #parser: Parser;
  /** The request whose head or body is being parsed. */
  #parsing: FastRequest | undefined = undefined;
  /** A response that ended while its bodiless request was still being parsed (see `ended`). */
  #endOnMessage: FastResponse | undefined = undefined;
  #parsingCtx: RequestContext | undefined = undefined;
  /** Requests whose responses have not gone out yet, in order: the first owns the socket. */
  readonly #queue: RequestContext[] = [];
  /** Pipelined requests beyond MAX_PIPELINED, parsed but not yet run; reading waits meanwhile. */
  readonly #waiting: RequestContext[] = [];
  /** Listener tick when the current head began (0: not in a head), and of the last read. */
  headStartTick = 0;
  lastReadTick: number;
  #paused = false;
  /** A refusal to send once the responses before it are out. */
  #refusal = 0;
  #closed = false;
  /** Reads come through `readShared`, not 'data' events. */
  readonly #shared: boolean;
  /** After an Upgrade's head: what the socket reads is the tunnel's, as 'data' events. */
  #piped = false;
  /** No more parsing: the connection closes, or its socket becomes a tunnel's. */
  #stopped = false;

  /** Bytes of a PROXY protocol header read before this connection took the socket. */
  readonly #skipped: number;

  /** `first`: what the socket sent after its PROXY header (`skipped` bytes), read already; the socket is then paused. */
  constructor(listener: FastListener, socket: Socket, first?: Buffer, skipped = 0) {
    this.#skipped = skipped;
    this.#listener = listener;
    this.socket = socket;
    this.writer = new SocketWriter(socket);
    this.lastReadTick = listener.tick;
    this.#parser = Parser.forRequest(listener.limits.maxHeaderSize, this);
    socket.setNoDelay(true);
    this.#shared = readShared(socket, this.#onRead);
    if (!this.#shared) socket.on('data', this.#onData);
    socket.on('drain', this.#onDrain);
    socket.on('error', this.#onError);
    // A client's FIN ends the connection, and what it asked for is cancelled (node:http's rule
    // without httpAllowHalfOpen): the socket is not half-open.
    socket.on('close', this.#onClose);
    if (first !== undefined) {
      socket.resume();
      if (first.length > 0) this.#onData(first);
    }
  }

  get dateLine(): string {
    return this.#listener.dateLine;
  }

  get keepAliveLines(): string {
    return this.#listener.keepAliveLines;
  }

  get draining(): boolean {
    return this.#listener.draining;
  }

  /** Nothing being answered or parsed: safe to close. */
  get idle(): boolean {
    return this.#queue.length === 0 && this.#waiting.length === 0 && this.#parsing === undefined && this.headStartTick === 0;
  }

  /** A read into the shared buffer: parsed at once, or, once piped, a copy for the tunnel. */
  readonly #onRead = (chunk: Buffer): void => {
    if (this.#piped) this.socket.emit('data', Buffer.from(chunk));
    else if (!this.#stopped) this.#onData(chunk);
  };

  readonly #onData = (chunk: Buffer): void => {
    const listener = this.#listener;
    this.lastReadTick = listener.tick;
    if (this.#parsing === undefined && this.headStartTick === 0) this.headStartTick = listener.tick;
    const upgrading = this.#queue.length;
    const result = this.#parser.execute(chunk);
    if (typeof result !== 'number') {
      this.#parseError(result, chunk);
      return;
    }
    // An Upgrade: llhttp stops after its head; what follows is the tunnel's, sent once the backend agrees.
    if (result < chunk.length && this.#queue.length > upgrading) {
      const ctx = this.#queue.at(-1)!;
      // A copy: the chunk may be a slice of the shared read buffer.
      if ((ctx.req as FastRequest).upgrade) ctx.head = Buffer.from(chunk.subarray(result));
    }
  };

  onHead(versionMinor: number, rawHeaders: string[], method: string, url: string, _status: number, _text: string, upgrade: boolean, keepAlive: boolean): HeadResult {
    this.headStartTick = 0;
    const listener = this.#listener;
    const req = new FastRequest(this.socket, method, url, this.#parser.versionMajor, versionMinor, rawHeaders, keepAlive && !upgrade, upgrade);
    req.connection = this;
    this.#parsing = req;
    const refusal = this.#refusal === 0 ? listener.refusal(req) : undefined;
    if (refusal !== undefined) {
      listener.log.info({ status: refusal.status, reason: refusal.reason, client: this.socket.remoteAddress }, 'rejected request');
      this.#parsing = undefined;
      this.#refuse(refusal.status);
      return BODY;
    }
    if (this.#refusal !== 0) {
      this.#parsing = undefined;
      return BODY;
    }
    if (upgrade) {
      this.#stopReading();
      this.#piped = this.#shared;
    }
    const res = new FastResponse(this, req.keepAlive, method === 'HEAD', versionMinor === 0);
    const ctx = new RequestContext(req, res, listener.log, listener.proto);
    ctx.upgrade = upgrade;
    this.#parsingCtx = ctx;
    if (this.#queue.length >= MAX_PIPELINED) {
      this.#waiting.push(ctx);
      this.#pause();
    } else {
      this.#admit(ctx);
    }
    return BODY;
  }

  /** A request's turn to run: it counts as in flight, and its response queues behind those before it. */
  #admit(ctx: RequestContext): void {
    const listener = this.#listener;
    const req = ctx.req as FastRequest;
    const res = ctx.res as FastResponse;
    listener.started();
    this.#queue.push(ctx);
    const first = this.#queue.length === 1;
    if (first) res.attach();
    const expect = req.header('expect');
    if (expect !== undefined) {
      if (expect.toLowerCase() !== '100-continue') {
        res.shouldKeepAlive = false;
        res.statusCode = 417;
        res.end(Buffer.from('417 Expectation Failed\n'));
        return;
      }
      if (first) this.socket.write(CONTINUE, 'latin1');
    }
    listener.run(ctx);
  }

  onBody(chunk: Buffer): void {
    const req = this.#parsing;
    if (req === undefined) return; // the body of a refused request
    if (!req.body(chunk)) this.#pause();
  }

  onMessageEnd(trailers?: string[]): void {
    const req = this.#parsing;
    this.#parsing = undefined;
    this.#parsingCtx = undefined;
    req?.bodyEnd(trailers);
    const ended = this.#endOnMessage;
    if (ended !== undefined) {
      this.#endOnMessage = undefined;
      this.ended(ended);
    }
    // Reading paused for this body (held until a try took it, or a backend slower than the
    // client) has no more reason to be: the body is whole. Left paused, the connection would
    // never read the client's next request, nor its FIN (CLOSE-WAIT until the idle timeout).
    this.resume();
  }

  /** The try writing the body can take more, or the body is whole: read the client again. */
  resume(): void {
    if (!this.#paused || this.#closed || this.#stopped || this.#refusal !== 0 || this.#waiting.length > 0) return;
    this.#paused = false;
    this.socket.resume();
  }

  /** The response that owns the socket has ended: the next one's turn, or the connection closes. */
  ended(res: FastResponse): void {
    // A request without a body answered from its handler (an answer the balancer makes itself)
    // ends before the parser has marked it complete: its turn ends once it has (onMessageEnd).
    const parsing = this.#parsing;
    if (parsing !== undefined && this.#queue[0]?.req === parsing && !parsing.complete && res.shouldKeepAlive && !declaresBody(parsing.rawHeaders)) {
      this.#endOnMessage = res;
      return;
    }
    const ctx = this.#queue.shift()!;
    res.finished = true;
    this.#listener.finish(ctx);
    const req = ctx.req as FastRequest;
    // The response ended before its request body did (the backend answered early): the rest is
    // read and thrown away, and the connection goes on, when it is bounded and small enough;
    // otherwise the connection closes, reading what the client still sends until it has read
    // the response (never a reset before that: RFC 9112 §9.6).
    if (!req.complete) {
      if (res.shouldKeepAlive && !this.#listener.draining && req === this.#parsing && discardable(req)) {
        req.pending = undefined;
        req.pendingBytes = 0;
        req.sink = DISCARD;
      } else {
        this.#linger();
        return;
      }
    } else if (!res.shouldKeepAlive || this.#listener.draining) {
      this.#closeAfter();
      return;
    }
    const next = this.#queue[0];
    if (next !== undefined) {
      const nextRes = next.res as FastResponse;
      if (nextRes.attach()) {
        this.ended(nextRes);
        return;
      }
      this.#drained(next);
    }
    // One fewer being answered: a request waiting behind MAX_PIPELINED runs, and once none
    // waits, reading goes on.
    const waiting = this.#waiting.shift();
    if (waiting !== undefined) {
      if (this.#waiting.length === 0) this.resume();
      this.#admit(waiting);
      return;
    }
    if (next === undefined && this.#refusal !== 0) this.#sendRefusal();
  }

  /** Closes the connection now (shutdown timeout, or a listener closing idle connections). */
  destroy(): void {
    this.socket.destroy();
  }

  #pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.socket.pause();
  }

  #stopReading(): void {
    this.#stopped = true;
    if (!this.#shared) this.socket.off('data', this.#onData);
    this.#pause();
  }

  /** A request refused at its head: answered once the responses before it are out, then the connection closes. */
  #refuse(status: number): void {
    this.#refusal = status;
    this.#stopReading();
    if (this.#queue.length === 0) this.#sendRefusal();
  }

  #sendRefusal(): void {
    this.#listener.refusedCount++;
    writeRawError(this.socket, this.#refusal);
    this.#close();
  }

  #parseError(err: NativeParseError, chunk: Buffer): void {
    // llhttp stops at the HTTP/2 preface (RFC 9113 §3.4): at the start of a plain connection, it
    // opens h2c; later, or over TLS (where ALPN chooses h2, as node:http has it), it is refused as
    // a malformed request.
    if (err.code === 'HPE_PAUSED_H2_UPGRADE' && this.#listener.proto === 'http' && this.socket.bytesRead - chunk.length + (err.bytesParsed ?? 0) === PREFACE.length + this.#skipped) {
      this.#toH2c(chunk.subarray(err.bytesParsed));
      return;
    }
    this.#parsing = undefined;
    const code = err.code;
    const status = parseErrorStatus(code === 'HPE_HEADER_OVERFLOW' ? Object.assign(err, { rawPacket: chunk }) : err);
    this.#listener.log.info({ code, status, client: this.socket.remoteAddress }, 'rejected malformed request');
    const ctx = this.#parsingCtx;
    this.#parsingCtx = undefined;
    if (ctx !== undefined) {
      const res = ctx.res as FastResponse;
      // A body that breaks once its response has started (or behind another): cut.
      if (res.headersSent || this.#queue[0] !== ctx) {
        this.socket.destroy();
        return;
      }
      // Its response has not started: the refusal is its answer, and its try is cancelled.
      this.#queue.shift();
      res.finished = true;
      ctx.abort(CLIENT_CLOSED);
      this.#listener.finish(ctx);
    }
    this.#refuse(status);
  }

  /**
   * The connection opened with the HTTP/2 preface: its socket leaves this connection for the
   * listener's HTTP/2 server, with the preface and what followed it put back to be read again.
   */
  #toH2c(rest: Buffer): void {
    const socket = this.socket;
    this.#stopped = true;
    this.headStartTick = 0;
    this.#parser.release();
    socket.off('drain', this.#onDrain);
    socket.off('error', this.#onError);
    socket.off('close', this.#onClose);
    // Reads through the shared buffer cannot be put back on hold: pausing would stop them. A
    // socket read through 'data' events is paused, so that what is put back waits for its reader.
    // A socket resumed after its PROXY header is flowing: paused too, or what is put back would
    // be emitted to no reader.
    if (!this.#shared) socket.off('data', this.#onData);
    if (!this.#shared || socket.readableFlowing === true) socket.pause();
    // A copy: the chunk may be a slice of the shared read buffer.
    socket.unshift(Buffer.concat([PREFACE, rest]));
    this.#listener.h2c(this, socket);
  }

  /**
   * Closes with a request body still coming: the response goes out, then a FIN, and what the
   * client still sends is read and dropped until it closes too (or LINGER_MS), so that its
   * unread bytes never make the kernel reset the connection before the client has the response.
   */
  #linger(): void {
    const socket = this.socket;
    this.#stopped = true;
    if (!this.#shared) {
      socket.off('data', this.#onData);
      socket.on('data', noop);
    }
    this.#paused = false;
    socket.resume();
    socket.end();
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  }

  /**
   * Closes after a complete request's response, the last of the connection. A plain socket
   * whose writes the kernel has all taken and that has left nothing unread (reading was not
   * paused, and each read empties the kernel's queue) closes at once, as nginx closes such a
   * connection: `close` sends what is written, then the FIN, as the `shutdown` that `#close`
   * asks for first does, without its turn of the event loop and its callbacks (measured, a
   * few µs of a connection that carries one request). Otherwise (a TLS socket, whose end sends
   * close_notify; writes still queued; bytes left unread, which would make the kernel reset the
   * connection) as `#close`.
   */
  #closeAfter(): void {
    const socket = this.socket;
    if (this.#shared && !this.#paused && this.writer.queued === 0 && !socket.destroyed) {
      this.#stopped = true;
      socket.destroy();
      return;
    }
    this.#close();
  }

  /** Closes once everything written has gone; the socket's close ends what remains. */
  #close(): void {
    this.#stopReading();
    this.socket.destroySoon();
  }

  /** Requests the sweep found too slow with their head: 408, as node:http answers. */
  headTimeout(): void {
    this.#listener.log.info({ code: 'ERR_HTTP_REQUEST_TIMEOUT', status: 408, client: this.socket.remoteAddress }, 'rejected malformed request');
    this.headStartTick = 0;
    this.#refuse(408);
  }

  /** The response of `ctx` may take more: its try reads its backend again. */
  #drained(ctx: RequestContext): void {
    const attempt = ctx.attempt;
    if (attempt instanceof Attempt && attempt.stream instanceof FastStream) attempt.stream.clientDrained();
  }

  readonly #onDrain = (): void => {
    const first = this.#queue[0];
    if (first !== undefined) this.#drained(first);
  };

  readonly #onError = (): void => {
    this.socket.destroy();
  };

  readonly #onClose = (): void => {
    this.#closed = true;
    this.#parser.release();
    const listener = this.#listener;
    listener.forget(this);
    for (const ctx of this.#queue.splice(0)) {
      const res = ctx.res as FastResponse;
      if (res.finished) continue;
      res.finished = true;
      if (!ctx.tunnel) ctx.abort(CLIENT_CLOSED);
      listener.finish(ctx);
    }
  };
}
