import { performance } from 'node:perf_hooks';
import type { Backend } from '../pool/index.js';
import type { Explanation } from '../proxy/explain.js';
import type { IdSource } from './ids.js';
import { formatTraceparent } from './traceparent.js';

/** OTLP's SpanKind values. */
export const KIND_SERVER = 2;
export const KIND_CLIENT = 3;
/** OTLP's Status.StatusCode values. */
export const STATUS_UNSET = 0;
export const STATUS_ERROR = 2;

/** An attribute value: a string, a boolean, an integer (int64) or another number (double). */
export type AttributeValue = string | number | boolean;
export type Attributes = Record<string, AttributeValue>;

/** Something that happened during a span, at `time` (performance.now() ms). */
export class SpanEvent {
  constructor(readonly name: string, readonly time: number, readonly attributes: Attributes | undefined) {}
}

/** What an encoder reads of a span (protobuf or JSON): made at export time, never on the request's path. */
export interface SpanData {
  readonly traceId: string;
  readonly spanId: string;
  /** '' for a root span. */
  readonly parentSpanId: string;
  readonly traceState: string;
  readonly name: string;
  readonly kind: number;
  /** performance.now() ms. */
  readonly start: number;
  readonly end: number;
  readonly attributes: Attributes;
  readonly events: readonly SpanEvent[];
  readonly statusCode: number;
  readonly statusMessage: string;
}

/**
 * One try of a request on a backend (a CLIENT span, child of the request's): a record with
 * fixed fields, filled by the attempt as it goes, turned into attributes only when exported.
 */
export class TrySpan {
  readonly spanId: string;
  /** What the backend receives as `traceparent`: this span is its parent. */
  readonly traceparent: string;
  readonly start = performance.now();
  end = 0;
  readonly backend: Backend;
  /** 1 for the first try. */
  readonly n: number;
  /** The backend's status, 0 when none came. */
  status = 0;
  /** Our error code (`LB_ERR_…`) when the try failed, '' otherwise. */
  errorCode = '';
  errorMessage = '';
  /** ms from the try's start to the response head, -1 before. */
  firstByte = -1;
  /** Whether the connection was kept alive from an earlier request; undefined when the transport does not say. */
  reused: boolean | undefined = undefined;
  events: SpanEvent[] | undefined = undefined;

  constructor(trace: RequestTrace, backend: Backend, n: number, ids: IdSource) {
    this.spanId = ids.spanId();
    this.traceparent = formatTraceparent(trace.traceId, this.spanId, trace.sampled);
    this.backend = backend;
    this.n = n;
  }

  event(name: string, attributes?: Attributes): void {
    (this.events ??= []).push(new SpanEvent(name, performance.now(), attributes));
  }

  /** The response head came: time to first byte. */
  responded(status: number): void {
    if (this.firstByte < 0) this.firstByte = performance.now() - this.start;
    this.status = status;
  }

  failed(code: string, message: string): void {
    if (this.errorCode !== '') return;
    this.errorCode = code;
    this.errorMessage = message;
  }

  /** Ends once; later calls keep the first end. */
  finish(): void {
    if (this.end === 0) this.end = performance.now();
  }
}

/**
 * The request's record (its SERVER span): ids and start from its arrival; events as they
 * happen; the rest copied from the request context at its end, and only when it is kept.
 */
export class RequestTrace {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly traceState: string;
  /** The head sampler's decision (also the sampled flag the backend is sent). */
  readonly sampled: boolean;
  readonly start: number;
  end = 0;
  events: SpanEvent[] | undefined = undefined;
  /** Tries in order; most requests have one. */
  tries: TrySpan[] | undefined = undefined;
  /** The full routing explanation (as X-LB-Explain has it), kept for sampled requests only. */
  explain: Explanation | undefined = undefined;
  // Copied at the end, when kept.
  method = '';
  route = '';
  pool = '';
  status = 0;
  clientIp = '';
  host = '';
  path = '';
  protocol = '';
  requestId = '';
  errorCode = '';
  errorMessage = '';
  readonly #ids: IdSource;

  constructor(ids: IdSource, traceId: string, parentSpanId: string, traceState: string, sampled: boolean, start: number) {
    this.#ids = ids;
    this.traceId = traceId;
    this.spanId = ids.spanId();
    this.parentSpanId = parentSpanId;
    this.traceState = traceState;
    this.sampled = sampled;
    this.start = start;
  }

  event(name: string, attributes?: Attributes): void {
    (this.events ??= []).push(new SpanEvent(name, performance.now(), attributes));
  }

  /** A try starts on `backend`: its span, a child of this one. */
  startTry(backend: Backend): TrySpan {
    const tries = (this.tries ??= []);
    const span = new TrySpan(this, backend, tries.length + 1, this.#ids);
    tries.push(span);
    return span;
  }

  /** Spans in this record: the request's and its tries'. */
  get spanCount(): number {
    return 1 + (this.tries?.length ?? 0);
  }
}
