import { constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import type { IncomingMessage } from 'node:http';
import type { ContextResponse, RequestContext } from '../context/index.js';
import type { Attempt } from './attempt.js';
import { classify, CLIENT_CLOSED, isGatewayFailure, ProxyError } from '../errors/index.js';
import { grpcCode } from './grpc.js';
import { h2ResponseHeaders, relayedTrailers, type H2Headers } from './headers.js';
import type { H2Session } from './h2-session.js';
import type { Stream } from './transport.js';
import { endResponse, listHead, relayHead, type RelaySink } from './response-relay.js';

/** What a retry may assume of a stream the backend did not process: nothing of it reached it. */
const UNPROCESSED = { beforeRequest: true, beforeResponse: true };

/** gRPC's status fields: in a Trailers-Only response (a HEADERS frame that ends the stream) they are moved to the trailers. */
const GRPC_STATUS = new Set(['grpc-status', 'grpc-message', 'grpc-status-details-bin']);

/** The H2Stream a backend stream belongs to: its listeners are shared by every stream and find their H2Stream here. */
const OWNER = Symbol('H2Stream');
type Owned = ClientHttp2Stream & { [OWNER]: H2Stream };

/** `session.request()`'s options: a bodyless request ends with its HEADERS; one with a body, with the client's trailers. */
const NO_BODY = Object.freeze({ endStream: true });
const WITH_BODY = Object.freeze({ endStream: false, waitForTrailers: true });

/**
 * One request on one stream of an HTTP/2 session to a backend. It streams the client's body
 * with backpressure both ways (a full stream pauses the client's request, a slow client pauses
 * the stream), relays the response head, body and trailers, and reports to its attempt as the
 * other transports do. A stream the backend refused unprocessed (GOAWAY above it, or
 * REFUSED_STREAM) fails with an error any request may be retried on, as long as none of its
 * body was taken from the client.
 *
 * Per request it allocates little beyond itself: the backend stream's listeners are functions
 * shared by all (they find their H2Stream on the stream), and those a request body or a slow
 * client needs are made only then.
 */
export class H2Stream implements Stream, RelaySink<Record<string, string | string[]>> {
  readonly #attempt: Attempt;
  readonly #ctx: RequestContext;
  readonly #req: IncomingMessage;
  readonly #res: ContextResponse;
  readonly #headers: H2Headers;
  readonly #maxBody: number;
  /** The session that carries it (or will, once ready): set by the session it is added to. */
  session: H2Session | undefined = undefined;
  /** Trailers go to the client: it speaks HTTP/2, or asked for them (`TE: trailers`). */
  readonly #trailersWanted: boolean;
  #stream: ClientHttp2Stream | undefined = undefined;
  #trailers: Record<string, string | string[]> | undefined = undefined;
  /** Request body bytes taken from the client. */
  #bodyRead = 0;
  #error: Error | undefined = undefined;
  #done = false;
  /** The request body's listeners, made when there is a body. */
  #onBody: ((chunk: Buffer) => void) | undefined = undefined;
  #onBodyEnd: (() => void) | undefined = undefined;
  #onClientDrain: (() => void) | undefined = undefined;

  constructor(attempt: Attempt, headers: H2Headers, maxBody: number, trailersWanted: boolean) {
    this.#attempt = attempt;
    this.#ctx = attempt.ctx;
    this.#req = attempt.ctx.req as IncomingMessage;
    this.#res = attempt.ctx.res as ContextResponse;
    this.#headers = headers;
    this.#maxBody = maxBody;
    this.#trailersWanted = trailersWanted;
  }

  /** Its stream id, once its HEADERS have been sent. */
  get id(): number | undefined {
    return this.#stream?.id;
  }

  get waitingOnClient(): boolean {
    return !this.#req.complete && this.#req.readableFlowing === true;
  }

  get unsent(): number {
    return this.#res.writableLength;
  }

  /** The session is up: the request goes out (its head now, its body as the client sends it). */
  start(session: ClientHttp2Session): void {
    const attempt = this.#attempt;
    if (this.#done) return;
    if (attempt.ended) {
      this.#finish();
      return;
    }
    attempt.writing();
    const hasBody = attempt.hasBody;
    let stream: ClientHttp2Stream;
    try {
      // With a body, the stream ends with the client's trailers (an empty set ends it with an empty DATA frame).
      stream = this.#stream = session.request(this.#headers, hasBody ? WITH_BODY : NO_BODY);
    } catch (err) {
      // A header node:http2 refuses to send (a bad value, say): the request is at fault, not the backend.
      this.#fail(new ProxyError('LB_ERR_BAD_REQUEST', (err as Error).message, { cause: err, stage: UNPROCESSED }));
      return;
    }
    (stream as Owned)[OWNER] = this;
    stream.on('response', H2Stream.#onResponse);
    stream.on('data', H2Stream.#onData);
    stream.on('trailers', H2Stream.#onTrailers);
    stream.on('end', H2Stream.#onEnd);
    stream.on('error', H2Stream.#onError);
    stream.on('close', H2Stream.#onClose);
    if (!hasBody) {
      attempt.requestSent();
      return;
    }
    const req = this.#req;
    stream.on('wantTrailers', H2Stream.#onWantTrailers);
    if (attempt.retry) this.#replay(stream);
    if (req.readableEnded) {
      // An empty body, read by an attempt before this one (a retry).
      this.#bodyEnd();
      return;
    }
    stream.on('drain', H2Stream.#onStreamDrain);
    req.on('data', this.#onBody = (chunk) => this.#body(chunk));
    req.on('end', this.#onBodyEnd = () => this.#bodyEnd());
    req.resume();
  }

  reset(reason: Error): void {
    if (this.#done) return;
    this.#error = reason;
    this.#finish();
    this.#stream?.close(constants.NGHTTP2_CANCEL);
  }

  /** A retry first sends what earlier tries took of the body, when it was kept (a gRPC call's: see Attempt.bodySent). */
  #replay(stream: ClientHttp2Stream): void {
    const kept = this.#ctx.replay;
    if (kept === undefined) return;
    for (const chunk of kept) {
      this.#bodyRead += chunk.length;
      stream.write(chunk);
    }
  }

  /** The backend did not process it (a GOAWAY above its id). */
  refused(why: string): void {
    if (this.#done) return;
    const error = new ProxyError('LB_ERR_UPSTREAM_RESET', `backend refused the stream unprocessed (${why})`, { stage: this.#bodyRead === 0 ? UNPROCESSED : this.#attempt });
    this.#stream?.close(constants.NGHTTP2_CANCEL);
    this.#fail(error);
  }

  /** Its session failed or closed under it (or was cut). */
  lost(err: Error): void {
    if (this.#done) return;
    this.#stream?.close(constants.NGHTTP2_CANCEL);
    this.#fail(this.#mapped(err, constants.NGHTTP2_NO_ERROR));
  }

  #body(chunk: Buffer): void {
    this.#bodyRead += chunk.length;
    if (this.#maxBody > 0 && this.#bodyRead > this.#maxBody) {
      this.#attempt.tooLarge(this.#maxBody);
      return;
    }
    this.#attempt.bodySent(chunk.length, chunk);
    if (!this.#stream!.write(chunk)) this.#req.pause();
  }

  #bodyEnd(): void {
    if (this.#done) return;
    this.#stream!.end();
    this.#attempt.requestSent();
  }

  // The backend stream's listeners: `this` is the stream, whose H2Stream is its OWNER.
  static readonly #onStreamDrain = function (this: Owned): void {
    const self = this[OWNER];
    if (!self.#done) self.#req.resume();
  };

  /** The request body is sent: the client's trailers follow it (HTTP/1.1 chunked ones, or an HTTP/2 client's). */
  static readonly #onWantTrailers = function (this: Owned): void {
    if (this.destroyed || this.closed) return;
    this.sendTrailers(relayedTrailers(this[OWNER].#req.trailers as H2Headers));
  };

  static readonly #onResponse = function (this: Owned, headers: IncomingHttpHeaders, flags: number): void {
    this[OWNER].#response(headers, flags);
  };

  static readonly #onData = function (this: Owned, chunk: Buffer): void {
    this[OWNER].#data(chunk);
  };

  static readonly #onTrailers = function (this: Owned, trailers: IncomingHttpHeaders): void {
    const self = this[OWNER];
    self.#attempt.trailers(grpcCode(trailers['grpc-status']));
    if (self.#trailersWanted) self.#trailers = relayedTrailers(trailers as H2Headers, self.#trailers);
  };

  static readonly #onEnd = function (this: Owned): void {
    this[OWNER].#end();
  };

  static readonly #onError = function (this: Owned, err: Error): void {
    this[OWNER].#error ??= err;
  };

  static readonly #onClose = function (this: Owned): void {
    const self = this[OWNER];
    if (self.#done) return;
    self.#fail(self.#mapped(self.#error, this.rstCode ?? constants.NGHTTP2_NO_ERROR));
  };

  #response(headers: IncomingHttpHeaders, flags: number): void {
    const attempt = this.#attempt;
    const res = this.#res;
    const status = Number(headers[':status']);
    if (this.#done) return;
    if (res.destroyed) {
      // The client is gone: the attempt ends here, without a verdict on the backend.
      this.#stream?.close(constants.NGHTTP2_CANCEL);
      this.#fail(CLIENT_CLOSED);
      return;
    }
    const endStream = (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    if (!attempt.responded(status, endStream ? grpcCode(headers['grpc-status']) : -1)) {
      // Ended before (a timeout, say) or now (retried on this status): the stream has no reader.
      this.reset(CLIENT_CLOSED);
      return;
    }
    const ctx = this.#ctx;
    // A gRPC Trailers-Only response: its status fields go out as trailers, where every client reads them.
    const trailersOnly = endStream && headers['grpc-status'] !== undefined && this.#trailersWanted;
    const list = h2ResponseHeaders(headers as H2Headers, ctx.id, trailersOnly ? GRPC_STATUS : undefined);
    if (trailersOnly) {
      this.#trailers = {};
      for (const name of GRPC_STATUS) if (headers[name] !== undefined) this.#trailers[name] = String(headers[name]);
    }
    if (attempt.closing) res.shouldKeepAlive = false;
    // A hook holds the head (an asynchronous onResponse): the backend's stream waits until the relay's `ready`.
    if (!relayHead(attempt, this, status, list)) this.#stream!.pause();
  }

  get clientGone(): boolean {
    return this.#res.destroyed;
  }

  sendHead(status: number, headers: string[]): void {
    const attempt = this.#attempt;
    this.#res.writeHead(status, listHead(attempt, this, status, headers));
    attempt.receiving();
  }

  #data(chunk: Buffer): void {
    if (this.#done) return;
    const attempt = this.#attempt;
    attempt.received();
    const relay = attempt.relay;
    if (relay !== undefined) {
      // Kept while a hook holds the head (read before the pause took, or given with the head), or compressed.
      if (!relay.data(chunk)) this.#stream!.pause();
      return;
    }
    this.#ctx.bytes += chunk.length;
    if (this.#res.write(chunk)) return;
    this.#stream!.pause();
    this.#res.once('drain', this.#onClientDrain ??= () => this.#clientDrained());
    this.#attempt.stalled(this.#res.socket !== null);
  }

  #clientDrained(): void {
    const attempt = this.#attempt;
    if (attempt.relay?.drained() === true) {
      attempt.clientDrained();
      return;
    }
    if (this.#done) return;
    attempt.clientDrained();
    this.#stream!.resume();
  }

  /** The backend's response has come whole: the stream is done with (a held head, the compressor's output, follow through the relay). */
  #end(): void {
    if (this.#done) return;
    this.#finish();
    endResponse(this.#attempt, this, this.#trailers);
  }

  /** Body bytes from the relay (compressed, or kept while the head was held); false when the client is full. */
  output(chunk: Buffer): boolean {
    const res = this.#res;
    this.#ctx.bytes += chunk.length;
    if (res.write(chunk)) return true;
    res.once('drain', this.#onClientDrain ??= () => this.#clientDrained());
    this.#attempt.stalled(res.socket !== null);
    return false;
  }

  /** A held head has gone, or the compressor takes more: the backend's stream is read again. */
  ready(): void {
    if (!this.#done) this.#stream?.resume();
  }

  failed(err: Error): void {
    this.#attempt.failed(new ProxyError('LB_ERR_INTERNAL', err.message, { cause: err, stage: this.#attempt }));
  }

  sendEnd(trailers: Record<string, string | string[]> | undefined): void {
    const res = this.#res;
    if (trailers !== undefined && !res.destroyed) res.addTrailers(trailers);
    res.end();
  }

  /**
   * A stream's failure in our codes: REFUSED_STREAM means unprocessed (RFC 9113 section 8.7);
   * anything else the backend or the connection did is a reset, at the stage the attempt had reached.
   */
  #mapped(err: Error | undefined, code: number): ProxyError {
    if (code === constants.NGHTTP2_REFUSED_STREAM) {
      return new ProxyError('LB_ERR_UPSTREAM_RESET', 'backend refused the stream unprocessed (REFUSED_STREAM)', { stage: this.#bodyRead === 0 ? UNPROCESSED : this.#attempt });
    }
    if (err instanceof ProxyError) {
      // A session's error (a connect timeout, say) says nothing of how far this stream had got.
      return this.#stream === undefined ? err : new ProxyError(err.code, err.message, { cause: err, stage: this.#attempt });
    }
    const failure = err === undefined ? undefined : classify(err);
    if (failure !== undefined && isGatewayFailure(failure.code)) return new ProxyError(failure.code, failure.reason, { cause: err, stage: this.#attempt });
    return new ProxyError('LB_ERR_UPSTREAM_RESET', code === constants.NGHTTP2_NO_ERROR ? 'backend stream closed before its response ended' : `backend reset the stream (HTTP/2 error ${code})`, { cause: err, stage: this.#attempt });
  }

  #fail(error: ProxyError): void {
    if (this.#done) return;
    this.#finish();
    this.#attempt.failed(error);
  }

  /** Done with the stream: the client's body is no longer read into it, and the session is told. */
  #finish(): void {
    this.#done = true;
    const req = this.#req;
    if (this.#onBody !== undefined) {
      req.off('data', this.#onBody);
      req.off('end', this.#onBodyEnd!);
    }
    if (this.#stream !== undefined && this.#attempt.hasBody && !req.complete) req.pause();
    this.session?.release(this);
  }
}
