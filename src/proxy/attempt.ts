import { performance } from 'node:perf_hooks';
import type { HeadHolder, RequestContext } from '../context/index.js';
import type { Backend } from '../pool/index.js';
import type { Deadline } from './deadlines.js';
import { isGatewayFailure, ProxyError, type Stage } from '../errors/index.js';
import { GRPC_UNAVAILABLE } from './grpc.js';
import { isH2 } from './proto-transport.js';
import { Progress } from './progress.js';
import type { Proxy } from './proxy.js';
import type { ResponseRelay } from './response-relay.js';
import type { Sweepable } from './sweep.js';
import type { Stream } from './transport.js';
import type { TrySpan } from '../tracing/span.js';
import { Encoder, type Decision, type EncodedSink, type Encoding } from './compression/index.js';

/** What the sweep watches an attempt for: the request body, a slow client, a stalled response body. */
const UPLOADING = 1;
const STALLED = 2;
const RECEIVING = 4;

/**
 * Most of a gRPC call's request body kept for a retry on UNAVAILABLE (Envoy keeps up to its
 * `per_request_buffer_limit_bytes` for the same reason): a call with a larger body is not retried.
 */
export const REPLAY_LIMIT = 64 * 1024;

/** A failure after which the request may go again whole: its body is kept (or it has none). */
const REPLAYABLE: Stage = { beforeRequest: true, beforeResponse: true };
const GRPC_UNAVAILABLE_REASON = 'grpc-status 14 (UNAVAILABLE)';

/**
 * One try of a request on one backend, whichever transport carries it: the one owner of its
 * life. It counts itself in flight (the proxy's active and retrying counts, the backend's
 * in-flight count) from creation to end, holds its PROXY_TIMEOUT deadline and its place in the
 * sweep, applies the status policy to the response head (outlier detection, RETRY_ON_STATUS),
 * and turns a failure into a retry or the client's answer, in one place. The transport moves
 * the bytes and reports to it; every report after the end is ignored.
 */
export class Attempt implements Deadline, Sweepable, Stage, HeadHolder {
  readonly backend: Backend;
  readonly ctx: RequestContext;
  /** A retry: counted against the retry budget while in flight. */
  readonly retry: boolean;
  /** The transport's stream for it, once it has one. */
  stream: Stream | undefined = undefined;
  /** Its span when the request is traced: the transport sends `span.traceparent` to the backend. */
  readonly span: TrySpan | undefined;
  /** The request declares a body (set by the transport as it prepares the request). */
  hasBody = false;
  /** Sent on its way (a connection asked for); an attempt never sent is not retried. */
  dispatched = false;
  /**
   * A hook's onUpstreamRequest ran again for this retry: the transport makes the request head
   * anew from the request's (and takes only the body source of the try it replaces).
   */
  newHead = false;
  /**
   * Its response's relay while a hook holds the head or the body is compressed (see
   * response-relay.ts); undefined otherwise: the body goes from the transport straight to the client.
   */
  relay: ResponseRelay | undefined = undefined;
  deadline = 0;
  prevDeadline: Deadline | undefined = undefined;
  nextDeadline: Deadline | undefined = undefined;
  queued = false;
  swept = false;
  prevSwept: Sweepable | undefined = undefined;
  nextSwept: Sweepable | undefined = undefined;
  readonly #proxy: Proxy;
  #writing = false;
  #responded = false;
  #ended = false;
  /** UPLOADING | STALLED | RECEIVING while the sweep watches it. */
  #waiting = 0;
  readonly #progress = new Progress();
  /** RECEIVING: a response body chunk came since the last tick, and for how long none has. */
  #received = false;
  #silentFor = 0;
  #paused = false;
  /** A gRPC call answered 200 without its status: the verdict on the backend waits for the trailers' grpc-status. */
  #verdictDue = false;

  constructor(proxy: Proxy, ctx: RequestContext, backend: Backend, retry: boolean) {
    this.#proxy = proxy;
    this.ctx = ctx;
    this.backend = backend;
    this.retry = retry;
    this.span = ctx.trace?.startTry(backend);
    backend.startRequest();
    proxy.active++;
    if (retry) proxy.retrying++;
    ctx.attempt = this;
  }

  /** Nothing of the request reached the backend yet. */
  get beforeRequest(): boolean {
    return !this.#writing;
  }

  /** No response head has been accepted yet. */
  get beforeResponse(): boolean {
    return !this.#responded;
  }

  /** Whether it has ended (answered, failed, retried elsewhere or turned into a tunnel). */
  get ended(): boolean {
    return this.#ended;
  }

  /** The proxy is shutting down: the client's connection closes after this response. */
  get closing(): boolean {
    return this.#proxy.draining;
  }

  /** The X-LB-Explain header's value, when the request asked how it was routed. */
  explained(): string | undefined {
    const explain = this.ctx.explain;
    return explain === undefined ? undefined : this.#proxy.explained(this.ctx, explain);
  }

  // ---- reports from the transport ----

  /** The transport starts writing the request on a connection. */
  writing(): void {
    this.#writing = true;
  }

  /** The request has a body still to come from the client: the sweep watches it move. */
  uploading(): void {
    this.#watch(UPLOADING);
  }

  /** `bytes` of the request body went to the backend. */
  bodySent(bytes: number, chunk?: Buffer | string): void {
    this.#progress.bodyMoved = true;
    this.ctx.bytesIn += bytes;
    if (chunk === undefined) return;
    const ctx = this.ctx;
    // A mirror (RequestMirror) keeping a copy of a small body.
    ctx.bodyTap?.(chunk);
    if (ctx.replay !== undefined) keep(ctx, chunk);
  }

  /** The whole request is on the wire: the backend's time to answer starts now. */
  requestSent(): void {
    this.#unwatch(UPLOADING);
    if (this.#ended || this.#responded) return;
    this.deadline = performance.now() + this.#proxy.timeout;
    this.#proxy.deadlines.add(this);
  }

  /**
   * The backend's final response head (or its 101): the status policy. Returns true when the
   * transport is to relay it; false when the attempt has ended (before, or now, dropped for a
   * retry on status: its stream is reset then, and the request goes elsewhere).
   *
   * `grpc` is the `grpc-status` of a Trailers-Only response (a head that ends the stream; see
   * `grpcCode`), -1 otherwise. For a gRPC call, UNAVAILABLE (14) is a gateway failure, as a 503
   * is, and with RETRY_ON_STATUS's `grpc-unavailable` it is retried (nothing of it has reached
   * the client); a 200 whose status comes in the trailers is judged there (`trailers`).
   */
  responded(status: number, grpc = -1): boolean {
    const proxy = this.#proxy;
    proxy.deadlines.remove(this);
    if (this.#ended) return false;
    const backend = this.backend;
    const grpcCall = this.ctx.grpc;
    this.span?.responded(status);
    if (grpcCall && grpc >= 0) this.ctx.grpcStatus = grpc;
    if (status >= 502 && status <= 504) this.#gatewayFailure(`status ${status}`);
    else if (!grpcCall) proxy.succeeded(backend);
    else if (grpc === GRPC_UNAVAILABLE) {
      this.#gatewayFailure(GRPC_UNAVAILABLE_REASON);
      if (proxy.retryGrpcUnavailable && this.#retryOnGrpcUnavailable()) return false;
    } else if (grpc < 0) this.#verdictDue = true;
    else proxy.succeeded(backend);
    if (proxy.retryStatus[status] === 1 && this.#retryOnStatus(status)) return false;
    this.#responded = true;
    const ctx = this.ctx;
    if (ctx.hooks !== undefined) ctx.hooks.status = status;
    // A response under way is not retried: a body kept for that is let go (a stream may go on sending).
    ctx.replay = undefined;
    proxy.responding(ctx);
    const now = performance.now();
    backend.observeLatency(now - ctx.startTime, now);
    return true;
  }

  /**
   * Whether the response with `status` and `headers` (a flat [name, value, …] list, as it will be
   * sent) is compressed, and how (see CompressionPolicy.choose): the route's policy, else the
   * global one. With compression off everywhere this is one check.
   */
  compression(status: number, headers: readonly string[]): Decision {
    const ctx = this.ctx;
    const policy = ctx.compression ?? this.#proxy.compression.policy;
    if (policy === undefined || ctx.grpc) return undefined;
    return policy.choose(ctx.method, ctx.req.rawHeaders, status, headers);
  }

  /**
   * The compressor for a response `compression` chose `encoding` for, at the policy's level,
   * writing to `sink` (its relay: see encodeHead, which reports `completed` once the sink is
   * `finished`, so the client's drain still reaches the stream); `flushEach` for server-sent events.
   */
  encoder(encoding: Encoding, flushEach: boolean, sink: EncodedSink): Encoder {
    const policy = (this.ctx.compression ?? this.#proxy.compression.policy)!;
    return new Encoder(encoding, policy.settings.levels[encoding], flushEach, sink);
  }

  /** The head a hook held (relayHead), edited: its relay sends it on. */
  resumeHead(headers: string[]): void {
    this.relay?.resumeHead(headers);
  }

  /** PROXY_TIMEOUT also bounds a pause within the response body (for transports without a timer of their own). */
  receiving(): void {
    if (this.#proxy.timeout > 0) this.#watch(RECEIVING);
  }

  /** A chunk of the response body came. */
  received(): void {
    this.#received = true;
  }

  /**
   * The client takes no more for now (the transport paused reading the backend): CLIENT_SEND_TIMEOUT
   * counts from here while `attached` (a pipelined response not yet at the socket is not the one stalled).
   */
  stalled(attached: boolean): void {
    this.#paused = true;
    if (this.#proxy.sendTimeout > 0 && attached) {
      this.#progress.stalled(this.stream?.unsent ?? 0);
      this.#watch(STALLED);
    }
  }

  /** The client took some of its response. */
  clientDrained(): void {
    this.#paused = false;
    this.#unwatch(STALLED);
  }

  /**
   * The response's trailers, with the `grpc-status` in them (see `grpcCode`; -1: none): a gRPC
   * call's status, and the verdict on the backend its head left open (UNAVAILABLE: a gateway
   * failure; too late for a retry, the response has gone to the client).
   */
  trailers(grpc: number): void {
    const ctx = this.ctx;
    if (this.#ended || grpc < 0 || !ctx.grpc) return;
    ctx.grpcStatus = grpc;
    if (!this.#verdictDue) return;
    this.#verdictDue = false;
    if (grpc === GRPC_UNAVAILABLE) this.#gatewayFailure(GRPC_UNAVAILABLE_REASON);
    else this.#proxy.succeeded(this.backend);
  }

  /** The response is complete: the attempt ends; false when it had ended already. */
  completed(): boolean {
    if (this.#verdictDue && !this.#ended) {
      // No grpc-status after all: the backend answered, whatever the client makes of it.
      this.#verdictDue = false;
      this.#proxy.succeeded(this.backend);
    }
    return this.#end();
  }

  /**
   * The backend switched protocols: the request becomes a tunnel, which leaves the proxy's
   * counts now (it is no longer an attempt that could be retried or budgeted) and the backend's
   * in-flight count when it closes (`tunnelClosed`). False when the attempt had ended.
   */
  upgraded(): boolean {
    if (this.#ended) return false;
    this.#ended = true;
    this.span?.finish();
    this.#leave();
    return true;
  }

  /** The tunnel this attempt became has closed. */
  tunnelClosed(): void {
    this.backend.endRequest();
  }

  /** The transport lost the request (connect failure, reset, bad response): retried, or the client answered. */
  failed(error: ProxyError): void {
    if (!this.#end()) return;
    this.#decide(error);
  }

  // ---- from the proxy, the request context and the deadline queue ----

  /** Stops the attempt with `reason` (the client left, a deadline, the shutdown): retried when allowed, else answered. */
  cancel(reason: Error): void {
    if (!this.#end()) return;
    this.stream?.reset(reason);
    this.#decide(reason instanceof ProxyError ? reason : new ProxyError('LB_ERR_INTERNAL', reason.message, { cause: reason, stage: this }));
  }

  /** PROXY_TIMEOUT passed without a response head. */
  expire(): void {
    this.cancel(new ProxyError('LB_ERR_UPSTREAM_TIMEOUT', `no response from backend within ${this.#proxy.timeout}ms`, { stage: this }));
  }

  sweep(elapsed: number): void {
    const proxy = this.#proxy;
    let error: ProxyError | undefined;
    if ((this.#waiting & UPLOADING) !== 0) {
      error = this.#progress.checkUpload(elapsed, this.stream?.waitingOnClient ?? false, proxy.bodyTimeout, proxy.timeout, this);
    }
    if (error === undefined && (this.#waiting & STALLED) !== 0) {
      error = this.#progress.checkStall(elapsed, this.stream?.unsent ?? 0, proxy.sendTimeout);
    }
    if (error === undefined && (this.#waiting & RECEIVING) !== 0) error = this.#checkReceive(elapsed);
    if (error !== undefined) this.cancel(error);
  }

  /** A body larger than MAX_BODY_SIZE (counted by the transport as it streams a chunked one). */
  tooLarge(max: number): void {
    this.cancel(new ProxyError('LB_ERR_BODY_TOO_LARGE', `request body larger than ${max} bytes`, { stage: this }));
  }

  #checkReceive(elapsed: number): ProxyError | undefined {
    if (this.#received || this.#paused) {
      this.#received = false;
      this.#silentFor = 0;
      return undefined;
    }
    this.#silentFor += elapsed;
    if (this.#silentFor < this.#proxy.timeout) return undefined;
    return new ProxyError('LB_ERR_UPSTREAM_TIMEOUT', `backend sent none of its response body for ${this.#proxy.timeout}ms`, { stage: this });
  }

  /** The one place a failed attempt becomes a retry or the client's answer. */
  #decide(error: ProxyError): void {
    const proxy = this.#proxy;
    this.span?.failed(error.code, error.message);
    if (isGatewayFailure(error.code)) this.#gatewayFailure(error.message);
    const next = proxy.planRetry(this.ctx, this, error);
    if (next !== undefined) proxy.retryOn(this.ctx, this, next, error);
    else proxy.fail(this.ctx, error);
  }

  /**
   * A RETRY_ON_STATUS answer with another try allowed: the attempt ends, its stream is reset
   * (nothing of the response has gone to the client) and the request goes elsewhere.
   */
  #retryOnStatus(status: number): boolean {
    const error = new ProxyError('LB_ERR_UPSTREAM_STATUS', `backend answered ${status}`, { stage: this });
    const proxy = this.#proxy;
    const next = proxy.planRetry(this.ctx, this, error);
    if (next === undefined) return false;
    this.span?.failed(error.code, error.message);
    this.#end();
    this.stream?.reset(error);
    proxy.retryOn(this.ctx, this, next, error);
    return true;
  }

  /**
   * A gRPC call's Trailers-Only UNAVAILABLE, with another try allowed (RETRY_ON_STATUS has
   * `grpc-unavailable`): as `#retryOnStatus`, for any method, when the body can go again whole
   * (it was kept, within REPLAY_LIMIT) to a backend whose transport replays it (HTTP/2's).
   */
  #retryOnGrpcUnavailable(): boolean {
    const ctx = this.ctx;
    if (this.hasBody && ctx.replay === undefined) return false;
    const error = new ProxyError('LB_ERR_UPSTREAM_STATUS', `backend answered ${GRPC_UNAVAILABLE_REASON}`, { stage: REPLAYABLE });
    const proxy = this.#proxy;
    const next = proxy.planRetry(ctx, this, error);
    if (next === undefined || (this.hasBody && !isH2(next))) return false;
    this.span?.failed(error.code, error.message);
    this.#end();
    this.stream?.reset(error);
    proxy.retryOn(ctx, this, next, error);
    return true;
  }

  /**
   * Counts a gateway failure of this try's backend (outlier detection, the tally); a traced
   * request records the ejection it caused, if it did.
   */
  #gatewayFailure(reason: string): void {
    const backend = this.backend;
    const span = this.span;
    const was = span !== undefined && backend.ejected;
    this.#proxy.gatewayFailure(backend, reason);
    if (span !== undefined && !was && backend.ejected) span.event('lb.ejection', { 'lb.backend': backend.id, 'lb.reason': reason, 'lb.ejections': backend.ejections });
  }

  #watch(what: number): void {
    if (this.#ended) return;
    if (this.#waiting === 0) this.#proxy.sweep.add(this);
    this.#waiting |= what;
  }

  #unwatch(what: number): void {
    if ((this.#waiting & what) === 0) return;
    this.#waiting &= ~what;
    if (this.#waiting === 0) this.#proxy.sweep.delete(this);
  }

  /** Out of the deadline queue, the sweep and the proxy's counts; the request context lets go of it. */
  #leave(): void {
    const proxy = this.#proxy;
    proxy.deadlines.remove(this);
    if (this.#waiting !== 0) {
      this.#waiting = 0;
      proxy.sweep.delete(this);
    }
    if (this.ctx.attempt === this) this.ctx.attempt = undefined;
    proxy.active--;
    if (this.retry) proxy.retrying--;
    if (proxy.queued > 0) proxy.scheduleDrain();
  }

  /** Ends the attempt once; false when it had ended. */
  #end(): boolean {
    if (this.#ended) return false;
    this.#ended = true;
    this.span?.finish();
    this.#leave();
    this.backend.endRequest();
    // A response stopped (failed, cancelled) takes nothing more; a complete one has given all.
    this.relay?.destroy();
    return true;
  }
}

/** Keeps a chunk of the request body for a replay; past REPLAY_LIMIT, lets go of what was kept (no replay). */
function keep(ctx: RequestContext, chunk: Buffer | string): void {
  const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
  if (ctx.replayBytes + bytes.length > REPLAY_LIMIT) {
    ctx.replay = undefined;
    return;
  }
  ctx.replayBytes += bytes.length;
  ctx.replay!.push(bytes);
}
