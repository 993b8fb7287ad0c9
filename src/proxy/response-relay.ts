import type { Attempt } from './attempt.js';
import { compressedHeaders, isEventStream, VARY_ONLY, type EncodedSink, type Encoder } from './compression/index.js';

/**
 * What a transport gives the response relay: its byte-level primitives towards the client, and
 * `ready` towards the backend. `T` is the transport's form of trailers.
 */
export interface RelaySink<T> {
  /** The client's response can take nothing more (destroyed): a held head is not sent. */
  readonly clientGone: boolean;
  /**
   * Writes the response head, `headers` as the route's modifier and hooks left them: the
   * transport adds our own fields and compresses (`listHead`, or `encodeHead` and its own lines).
   */
  sendHead(status: number, headers: string[]): void;
  /**
   * Body bytes for the client (compressed, or kept while a hook held the head); false when it is
   * full: the transport has reported the stall, and passes the client's drain to `ResponseRelay.drained`.
   */
  output(chunk: Buffer): boolean;
  /** The backend may be read again: a held head has gone, or the compressor has room. */
  ready(): void;
  /** Ends the client's response, with the backend's trailers (in the transport's form) when it sent some. */
  sendEnd(trailers: T | undefined): void;
  /** The compressor failed: the response cannot be completed. */
  failed(err: Error): void;
}

/**
 * A response head on its way: sent now, as the route's ResponseHeaderModifier and the hooks'
 * onResponse leave it (true), or held while an asynchronous onResponse settles (false: the
 * transport pauses the backend until its sink's `ready`). The attempt is the hook's HeadHolder;
 * its relay keeps what comes of the body meanwhile.
 */
export function relayHead<T>(attempt: Attempt, sink: RelaySink<T>, status: number, headers: string[]): boolean {
  const edit = attempt.ctx.responseModifier;
  if (edit === undefined) {
    sink.sendHead(status, headers);
    return true;
  }
  const edited = edit.hold === undefined ? edit.apply(headers) : edit.hold(headers, attempt);
  if (edited === undefined) {
    attempt.relay = new ResponseRelay(attempt, sink, status);
    return false;
  }
  sink.sendHead(status, edited);
  return true;
}

/**
 * `headers` as they are sent with the compression the attempt chooses for them (Attempt.compression:
 * one check when it is off); for a coding, the attempt's relay compresses the body.
 */
export function encodeHead<T>(attempt: Attempt, sink: RelaySink<T>, status: number, headers: string[]): string[] {
  const decision = attempt.compression(status, headers);
  if (decision === undefined) return headers;
  if (decision !== VARY_ONLY) {
    const relay = attempt.relay ??= new ResponseRelay(attempt, sink, 0);
    relay.encoder = attempt.encoder(decision, isEventStream(headers), relay);
  }
  return compressedHeaders(headers, decision);
}

/**
 * A head as a flat list goes (node:http, node:http2): the backend's fields, then ours (a route's
 * added fields, X-LB-Explain), all through `encodeHead`. The fast engine writes lines: it adds
 * its own after compressing.
 */
export function listHead<T>(attempt: Attempt, sink: RelaySink<T>, status: number, headers: string[]): string[] {
  const extra = attempt.ctx.responseHeaders;
  if (extra !== undefined) headers.push(...extra);
  const explain = attempt.explained();
  if (explain !== undefined) headers.push('x-lb-explain', explain);
  return encodeHead(attempt, sink, status, headers);
}

/**
 * The backend's response is complete, with its trailers when it sent some: the client's ends
 * now, or once the attempt's relay has given the rest (a held head, the compressor's output).
 */
export function endResponse<T>(attempt: Attempt, sink: RelaySink<T>, trailers: T | undefined): void {
  const relay = attempt.relay;
  if (relay !== undefined) relay.end(trailers);
  else if (attempt.completed()) sink.sendEnd(trailers);
}

/**
 * The part of relaying a response that is the same over every transport, for a response that
 * cannot go straight through: a head an asynchronous onResponse hook holds (and the body that
 * comes meanwhile), a compressor, and the backend's trailers until the body has gone. The
 * attempt owns it (`Attempt.relay`), made only when a head is held or a body compressed: a
 * response with neither goes from the transport to the client with no object of its own.
 */
export class ResponseRelay<T = unknown> implements EncodedSink {
  /** The body's compressor, when it is compressed (see encodeHead). */
  encoder: Encoder | undefined = undefined;
  readonly #attempt: Attempt;
  readonly #sink: RelaySink<T>;
  /** The status of the head a hook holds; 0: none held. */
  #held: number;
  /** What came of the body while the head was held. */
  #body: Buffer[] | undefined = undefined;
  /** The backend's response ended while the head was held. */
  #ended = false;
  #trailers: T | undefined = undefined;

  constructor(attempt: Attempt, sink: RelaySink<T>, held: number) {
    this.#attempt = attempt;
    this.#sink = sink;
    this.#held = held;
  }

  /**
   * A chunk of the body (the caller does not reuse it): kept while the head is held, else
   * compressed. False: the transport pauses the backend until its sink's `ready`.
   */
  data(chunk: Buffer): boolean {
    if (this.#held !== 0) {
      (this.#body ??= []).push(chunk);
      return false;
    }
    return this.#write(chunk);
  }

  /** The backend's response is complete (see endResponse). */
  end(trailers: T | undefined): void {
    this.#trailers = trailers;
    if (this.#held !== 0) this.#ended = true;
    else this.#close();
  }

  /**
   * The head a hook held, edited (Attempt.resumeHead): it goes, then the body kept meanwhile;
   * then the response ends, or the backend is read again once the client (or the compressor) takes more.
   */
  resumeHead(headers: string[]): void {
    const status = this.#held;
    this.#held = 0;
    const attempt = this.#attempt;
    const sink = this.#sink;
    if (status === 0 || attempt.ended || sink.clientGone) return;
    sink.sendHead(status, headers);
    const body = this.#body;
    this.#body = undefined;
    let more = true;
    if (body !== undefined) for (const chunk of body) more = this.#write(chunk);
    if (this.#ended) {
      this.#close();
      return;
    }
    // Without a compressor the rest of the body goes straight through, as if nothing had been held.
    if (this.encoder === undefined) attempt.relay = undefined;
    if (more) sink.ready();
  }

  /**
   * The client took some of its response: true when the relay takes that on (the compressor's
   * output goes on; a held head keeps the backend paused), false when the transport reads the
   * backend again itself.
   */
  drained(): boolean {
    if (this.#held !== 0) return true;
    const encoder = this.encoder;
    if (encoder === undefined) return false;
    encoder.clientDrained();
    return true;
  }

  /** The attempt ended: nothing more goes to the client from here (a compressor stops at once). */
  destroy(): void {
    this.#body = undefined;
    this.encoder?.destroy();
  }

  // ---- the compressor's sink ----

  output(chunk: Buffer): boolean {
    return this.#sink.output(chunk);
  }

  ready(): void {
    this.#sink.ready();
  }

  failed(err: Error): void {
    this.#sink.failed(err);
  }

  /** The compressed body has been given whole: the response ends. */
  finished(): void {
    if (this.#attempt.completed()) this.#sink.sendEnd(this.#trailers);
  }

  #write(chunk: Buffer): boolean {
    return this.encoder !== undefined ? this.encoder.write(chunk) : this.#sink.output(chunk);
  }

  /** The whole body has come: the compressor gives the rest of its output, or the response ends. */
  #close(): void {
    if (this.encoder !== undefined) this.encoder.end();
    else this.finished();
  }
}
