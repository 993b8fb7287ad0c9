import type { Logger } from 'pino';
import type { RequestContext } from '../context/index.js';
import type { Middleware } from './chain.js';
import { compileAccessFormat } from './access-format.js';

interface LineWriter {
  write(line: string): unknown;
}

/** A destination a line can be written into byte by byte (LogDestination is one). */
interface LineBuffer extends LineWriter {
  defer(producer: { drain(): void }): void;
  reserve(maxBytes: number): number;
  readonly buffer: Buffer;
  commit(end: number): void;
}

/**
 * Where access lines may be written directly, in pino's exact JSON format: the logger's own
 * destination, and its fields as pino writes them after the time (`,"pid":1,"hostname":"x"`).
 * Only whoever made the logger knows both (`createLogging` returns one); without it, lines go
 * through the logger.
 */
export interface LineSink {
  readonly destination: LineWriter;
  readonly bindings: string;
}

/**
 * One line per request when it ends: id, method, path, status, bytes, duration, backend, and
 * for a routed request its route and pool; for a gRPC call its `grpcStatus` (the backend's, or
 * the balancer's own answer's; 17 stands for a value that is no gRPC status code). `route` is written when a route matched; `pool` when
 * a route matched or the pool is not `default`: a balancer without routes writes what it always did.
 *
 * With a LineSink, the line is assembled here, in pino's exact format, instead of through
 * `log.info(object)`: that serialises a fresh object per request and was the largest single
 * cost of a proxied request. Into a LogDestination the line is not even a string: its fixed
 * parts are copied as prepared bytes, numbers are written as digits and strings character by
 * character, straight into the destination's batch buffer.
 *
 * `options.format` other than json (combined, common, a template: see access-format.ts) writes
 * text lines, compiled once here, into the same destination; `options.sample` keeps that share
 * of 2xx and 3xx lines. Trace and span ids, when tracing set them, end the JSON line.
 */
export function accessLog(log: Logger, sink?: LineSink, options: AccessLogOptions = {}): Middleware {
  const sample = options.sample ?? 1;
  const random = options.random ?? Math.random;
  // 2xx and 3xx lines kept at random when sampled; every other line always. Unsampled (the
  // default), `all` short-cuts the call.
  const all = sample >= 1;
  const keep = (ctx: RequestContext): boolean => {
    const status = ctx.status;
    return status < 200 || status >= 400 || random() < sample;
  };
  const format = options.format ?? 'json';
  if (format !== 'json') {
    const text = compileAccessFormat(format);
    const dest = sink?.destination;
    return {
      name: 'access-log',
      onEnd(ctx) {
        if (!log.isLevelEnabled('info') || !(all || keep(ctx))) return;
        // A hook's onLog sees the line's fields and may drop it (its edits do not reach a text line).
        if (ctx.hooks?.chain.onLog !== undefined && !ctx.hooks.logLine(fields(ctx) as Record<string, unknown>)) return;
        // Into the log's own destination, as the JSON lines go; through the logger (a pretty one) as its message.
        if (dest !== undefined) dest.write(`${text.line(ctx)}\n`);
        else log.info(text.line(ctx));
      },
    };
  }
  if (sink === undefined) {
    return {
      name: 'access-log',
      onEnd(ctx) {
        if (!log.isLevelEnabled('info') || !(all || keep(ctx))) return;
        const line = fields(ctx);
        if (ctx.hooks?.chain.onLog === undefined || ctx.hooks.logLine(line as Record<string, unknown>)) log.info(line, 'request');
      },
    };
  }
  let line = recorders.get(sink.destination);
  if (line === undefined) {
    const dest = sink.destination;
    line = isLineBuffer(dest) ? new BinaryLine(sink.bindings, dest) : new StringLine(sink.bindings, dest);
    recorders.set(dest, line);
  }
  const writer = line;
  return {
    name: 'access-log',
    onEnd(ctx) {
      if (!log.isLevelEnabled('info') || !(all || keep(ctx))) return;
      // A hook's onLog takes the line as an object (the hooks' slower path): written through the logger, or not at all.
      if (ctx.hooks?.chain.onLog !== undefined) {
        const line = fields(ctx) as Record<string, unknown>;
        if (ctx.hooks.logLine(line)) log.info(line, 'request');
        return;
      }
      writer.write(ctx);
    },
  };
}

export interface AccessLogOptions {
  /** ACCESS_LOG_FORMAT: `json` (the default), `combined`, `common` or a template (see access-format.ts). */
  readonly format?: string;
  /** ACCESS_LOG_SAMPLE: the share of 2xx and 3xx lines written (1: all); other statuses are always written. */
  readonly sample?: number;
  /** Where sampling draws from, in [0, 1): Math.random by default, a seeded generator in tests. */
  readonly random?: () => number;
}

/** One per destination: a LogDestination keeps its deferred producers for good. */
const recorders = new WeakMap<LineWriter, StringLine | BinaryLine>();

function isLineBuffer(stream: LineWriter): stream is LineBuffer {
  const s = stream as Partial<LineBuffer>;
  return typeof s.defer === 'function' && typeof s.reserve === 'function' && typeof s.commit === 'function' && 'buffer' in s;
}

/** The access line as one string, for any writable stream. */
class StringLine {
  readonly #bindings: string;
  readonly #stream: LineWriter;
  readonly #backendField = new Map<string, string>();
  /** `,"route":…` and `,"pool":…` by name: names come from config, so these stay few. */
  readonly #routeField = new Map<string, string>();
  readonly #poolField = new Map<string, string>();
  // The line's start changes once a millisecond: made then, not per request.
  #lastTime = -1;
  #timeField = '';

  constructor(bindings: string, stream: LineWriter) {
    this.#bindings = bindings;
    this.#stream = stream;
  }

  write(ctx: RequestContext): void {
    const backend = ctx.backend;
    let backendJson = '';
    if (backend !== undefined) {
      backendJson = this.#backendField.get(backend.id) ?? '';
      if (backendJson === '') this.#backendField.set(backend.id, backendJson = `,"backend":${JSON.stringify(backend.id)}`);
    }
    let routing = '';
    if (routed(ctx)) {
      routing = `${!ctx.route ? '' : field(this.#routeField, 'route', ctx.route)}${!ctx.pool ? '' : field(this.#poolField, 'pool', ctx.pool)}`;
    }
    const error = ctx.error === undefined ? '' : `,"error":${JSON.stringify(ctx.error.code)}${ctx.policy === '' ? '' : `,"policy":${JSON.stringify(ctx.policy)}`}`;
    const bytesIn = ctx.bytesIn === 0 ? '' : `,"bytesIn":${ctx.bytesIn}`;
    const tries = ctx.tries === 1 ? '' : `,"tries":${ctx.tries}`;
    const grpc = ctx.grpcStatus >= 0 ? `,"grpcStatus":${ctx.grpcStatus}` : '';
    const protocol = ctx.req.httpVersionMajor === 2 ? PROTOCOL_H2 : '';
    // Ids are lowercase hex (set by tracing): written as they are.
    const trace = ctx.traceId === undefined ? '' : `,"trace_id":"${ctx.traceId}"${ctx.spanId === undefined ? '' : `,"span_id":"${ctx.spanId}"`}`;
    const now = Date.now();
    if (now !== this.#lastTime) {
      this.#lastTime = now;
      this.#timeField = `{"level":30,"time":${now}${this.#bindings}`;
    }
    this.#stream.write(`${this.#timeField},"reqId":${JSON.stringify(ctx.id)},"method":${JSON.stringify(ctx.method)},"path":${JSON.stringify(ctx.path)},"status":${ctx.status}${grpc},"bytes":${ctx.bytes}${bytesIn},"ms":${Math.round(ctx.duration * 1000) / 1000}${backendJson}${routing},"client":${JSON.stringify(ctx.clientIp)}${protocol}${tries}${error}${trace},"msg":"request"}\n`);
  }
}

/** Written for HTTP/2 requests only: an HTTP/1.x line stays as it was. */
const PROTOCOL_H2 = ',"protocol":"HTTP/2"';

/** The pool every request goes to when there are no routes: not written, to keep the line as it was. */
const DEFAULT_POOL = 'default';

/** `,"name":"value"`, made once per value. */
function field(cache: Map<string, string>, name: string, value: string): string {
  let text = cache.get(value);
  if (text === undefined) cache.set(value, text = `,"${name}":${JSON.stringify(value)}`);
  return text;
}

/** Whether a request's line names its route and pool. */
function routed(ctx: RequestContext): boolean {
  // A context made by hand (the middleware used on its own) may have neither.
  return (ctx.route !== '' && ctx.route !== undefined) || (ctx.pool !== DEFAULT_POOL && ctx.pool !== undefined);
}

const bytes = (s: string): Buffer => Buffer.from(s, 'utf8');
const REQ_ID = bytes(',"reqId":');
const METHOD = bytes(',"method":');
const PATH = bytes(',"path":');
const STATUS = bytes(',"status":');
const GRPC_STATUS = bytes(',"grpcStatus":');
const BYTES = bytes(',"bytes":');
const BYTES_IN = bytes(',"bytesIn":');
const MS = bytes(',"ms":');
const CLIENT = bytes(',"client":');
const ROUTE = bytes(',"route":');
const TRIES = bytes(',"tries":');
const PROTOCOL = bytes(PROTOCOL_H2);
const ERROR = bytes(',"error":');
const POLICY = bytes(',"policy":');
const TRACE_ID = bytes(',"trace_id":');
const SPAN_ID = bytes(',"span_id":');
const END = bytes(',"msg":"request"}\n');
/** The fixed parts and the numbers, with room to spare: status, grpcStatus, bytes and bytesIn (≤ 16 digits each), ms, tries, protocol, the policy field's name. */
const FIXED_BYTES = 345;
/** Numbers recorded per request: time, status, bytes, microseconds, bytesIn, tries, grpcStatus (-1: none), HTTP major version. */
const STRIDE = 8;

/** Requests recorded before their lines are formatted: a batch's worth. */
const BATCH = 64;

/**
 * The access line written byte by byte into a LogDestination's buffer: no string, no encoding
 * pass. A request's end only records its fields; the lines are formatted a batch at a time
 * (every 64 requests, and whenever the destination writes anything else or flushes). Formatting
 * in one tight loop costs a fraction of formatting between everything else a request does, where
 * its code and data are cold; measured in place, it was most of the access log's cost.
 */
class BinaryLine {
  readonly #bindings: string;
  readonly #dest: LineBuffer;
  readonly #backendField = new Map<string, Buffer>();
  /** `,"pool":…` as bytes, by name (pools are few; a route's name is written as it is). */
  readonly #poolField = new Map<string, Buffer>();
  #lastTime = -1;
  /** `{"level":30,"time":…` and the logger's bindings, remade once a millisecond. */
  #timeField: Buffer = Buffer.alloc(0);
  #count = 0;
  /** Per recorded request: time, status, bytes, microseconds, bytesIn, tries, grpcStatus, HTTP major version. */
  readonly #numbers = new Float64Array(BATCH * STRIDE);
  readonly #ids: string[] = new Array<string>(BATCH).fill('');
  readonly #methods: string[] = new Array<string>(BATCH).fill('');
  readonly #paths: string[] = new Array<string>(BATCH).fill('');
  readonly #clients: string[] = new Array<string>(BATCH).fill('');
  /** Backend ids and error codes; '' for none. */
  readonly #backends: string[] = new Array<string>(BATCH).fill('');
  readonly #errors: string[] = new Array<string>(BATCH).fill('');
  /** The edge policy's rule that refused the request; '' for none. */
  readonly #policies: string[] = new Array<string>(BATCH).fill('');
  /** Route and pool names; '' when the line leaves them out. */
  readonly #routes: string[] = new Array<string>(BATCH).fill('');
  readonly #pools: string[] = new Array<string>(BATCH).fill('');
  /** Trace and span ids (tracing's); '' for none. */
  readonly #traces: string[] = new Array<string>(BATCH).fill('');
  readonly #spans: string[] = new Array<string>(BATCH).fill('');

  constructor(bindings: string, dest: LineBuffer) {
    this.#bindings = bindings;
    this.#dest = dest;
    dest.defer(this);
  }

  write(ctx: RequestContext): void {
    const i = this.#count;
    const numbers = this.#numbers;
    const at = i * STRIDE;
    numbers[at] = Date.now();
    numbers[at + 1] = ctx.status;
    numbers[at + 2] = ctx.bytes;
    numbers[at + 3] = Math.round(ctx.duration * 1000);
    numbers[at + 4] = ctx.bytesIn;
    numbers[at + 5] = ctx.tries;
    numbers[at + 6] = ctx.grpcStatus ?? -1;
    numbers[at + 7] = ctx.req.httpVersionMajor;
    this.#ids[i] = ctx.id;
    this.#methods[i] = ctx.method;
    this.#paths[i] = ctx.path;
    this.#clients[i] = ctx.clientIp;
    this.#backends[i] = ctx.backend?.id ?? '';
    this.#errors[i] = ctx.error?.code ?? '';
    this.#policies[i] = ctx.policy;
    const named = routed(ctx);
    this.#routes[i] = named ? ctx.route ?? '' : '';
    this.#pools[i] = named ? ctx.pool ?? '' : '';
    this.#traces[i] = ctx.traceId ?? '';
    this.#spans[i] = ctx.spanId ?? '';
    this.#count = i + 1;
    if (i + 1 === BATCH) this.drain();
  }

  /** Formats every recorded request into the destination's buffer. */
  drain(): void {
    const count = this.#count;
    // Zeroed first: the destination may flush, and so drain again, while these are formatted.
    this.#count = 0;
    for (let i = 0; i < count; i++) this.#format(i);
  }

  #format(i: number): void {
    const numbers = this.#numbers;
    const n = i * STRIDE;
    const now = numbers[n]!;
    if (now !== this.#lastTime) {
      this.#lastTime = now;
      this.#timeField = bytes(`{"level":30,"time":${now}${this.#bindings}`);
    }
    const backend = this.#backends[i]!;
    let backendField: Buffer | undefined;
    if (backend !== '') {
      backendField = this.#backendField.get(backend);
      if (backendField === undefined) this.#backendField.set(backend, backendField = bytes(`,"backend":${JSON.stringify(backend)}`));
    }
    const route = this.#routes[i]!;
    const pool = this.#pools[i]!;
    // The name itself, not a field made once per route: with many routes a map of them is cold by the time a route comes up again.
    const routeField = route === '' ? undefined : ROUTE;
    const poolField = pool === '' ? undefined : bytesField(this.#poolField, 'pool', pool);
    const id = this.#ids[i]!;
    const method = this.#methods[i]!;
    const path = this.#paths[i]!;
    const client = this.#clients[i]!;
    const error = this.#errors[i]!;
    const policy = this.#policies[i]!;
    const trace = this.#traces[i]!;
    const span = this.#spans[i]!;
    // A JSON string takes at most 6 bytes per UTF-16 unit (`\u001f`); UTF-8 at most 3.
    const max = this.#timeField.length + FIXED_BYTES + (backendField?.length ?? 0) + (routeField?.length ?? 0) + (poolField?.length ?? 0)
      + 6 * (id.length + method.length + path.length + client.length + error.length + policy.length + trace.length + span.length + route.length) + (policy === '' ? 0 : POLICY.length)
      + (trace === '' ? 0 : TRACE_ID.length + SPAN_ID.length);
    const dest = this.#dest;
    let at = dest.reserve(max);
    if (at < 0) return;
    const buf = dest.buffer;
    at = copy(this.#timeField, buf, at);
    at = copy(REQ_ID, buf, at);
    at = jsonString(id, buf, at);
    at = copy(METHOD, buf, at);
    at = jsonString(method, buf, at);
    at = copy(PATH, buf, at);
    at = jsonString(path, buf, at);
    at = copy(STATUS, buf, at);
    at = digits(numbers[n + 1]!, buf, at);
    if (numbers[n + 6]! >= 0) {
      at = copy(GRPC_STATUS, buf, at);
      at = digits(numbers[n + 6]!, buf, at);
    }
    at = copy(BYTES, buf, at);
    at = digits(numbers[n + 2]!, buf, at);
    if (numbers[n + 4] !== 0) {
      at = copy(BYTES_IN, buf, at);
      at = digits(numbers[n + 4]!, buf, at);
    }
    at = copy(MS, buf, at);
    at = microseconds(numbers[n + 3]!, buf, at);
    if (backendField !== undefined) at = copy(backendField, buf, at);
    if (routeField !== undefined) at = jsonString(route, buf, copy(routeField, buf, at));
    if (poolField !== undefined) at = copy(poolField, buf, at);
    at = copy(CLIENT, buf, at);
    at = jsonString(client, buf, at);
    if (numbers[n + 7] === 2) at = copy(PROTOCOL, buf, at);
    if (numbers[n + 5] !== 1) {
      at = copy(TRIES, buf, at);
      at = digits(numbers[n + 5]!, buf, at);
    }
    if (error !== '') {
      at = copy(ERROR, buf, at);
      at = jsonString(error, buf, at);
    }
    if (policy !== '') {
      at = copy(POLICY, buf, at);
      at = jsonString(policy, buf, at);
    }
    if (trace !== '') {
      at = copy(TRACE_ID, buf, at);
      at = jsonString(trace, buf, at);
      if (span !== '') {
        at = copy(SPAN_ID, buf, at);
        at = jsonString(span, buf, at);
      }
    }
    dest.commit(copy(END, buf, at));
  }
}

/** `,"name":"value"` as bytes, made once per value. */
function bytesField(cache: Map<string, Buffer>, name: string, value: string): Buffer {
  let b = cache.get(value);
  if (b === undefined) cache.set(value, b = bytes(`,"${name}":${JSON.stringify(value)}`));
  return b;
}

/** Short copies by hand: cheaper than a call into `Buffer#copy` for a dozen bytes. */
function copy(from: Buffer, to: Buffer, at: number): number {
  const n = from.length;
  if (n > 32) return at + from.copy(to, at);
  for (let i = 0; i < n; i++) to[at + i] = from[i]!;
  return at + n;
}

/**
 * `s` as a JSON string: printable ASCII is copied as it is; anything that needs escaping or
 * UTF-8 (rare: ids, methods and addresses never do) takes JSON.stringify and a UTF-8 write.
 */
function jsonString(s: string, to: Buffer, at: number): number {
  to[at] = 0x22;
  const start = at + 1;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return at + to.write(JSON.stringify(s), at, 'utf8');
    to[start + i] = c;
  }
  to[start + n] = 0x22;
  return start + n + 1;
}

/** A non-negative integer in decimal, as `String(n)` writes it. */
function digits(n: number, to: Buffer, at: number): number {
  if (!(n >= 0 && n <= Number.MAX_SAFE_INTEGER && Math.floor(n) === n)) return at + to.write(String(n), at, 'latin1');
  let end = at + 1;
  for (let rest = n; rest >= 10; rest = Math.floor(rest / 10)) end++;
  let rest = n;
  for (let i = end - 1; i >= at; i--) {
    to[i] = 0x30 + (rest % 10);
    rest = Math.floor(rest / 10);
  }
  return end;
}

/** Microseconds as milliseconds: `String(micros / 1000)` for `micros = Math.round(ms * 1000)`. */
function microseconds(micros: number, to: Buffer, at: number): number {
  if (!(micros >= 0 && micros <= Number.MAX_SAFE_INTEGER)) return at + to.write(String(micros / 1000), at, 'latin1');
  let fraction = micros % 1000;
  at = digits((micros - fraction) / 1000, to, at);
  if (fraction === 0) return at;
  to[at++] = 0x2e; // '.'
  to[at++] = 0x30 + Math.floor(fraction / 100);
  fraction %= 100;
  if (fraction === 0) return at;
  to[at++] = 0x30 + Math.floor(fraction / 10);
  fraction %= 10;
  if (fraction === 0) return at;
  to[at++] = 0x30 + fraction;
  return at;
}

function fields(ctx: RequestContext): object {
  return {
    reqId: ctx.id,
    method: ctx.method,
    path: ctx.path,
    status: ctx.status,
    grpcStatus: ctx.grpcStatus >= 0 ? ctx.grpcStatus : undefined,
    bytes: ctx.bytes,
    bytesIn: ctx.bytesIn === 0 ? undefined : ctx.bytesIn,
    ms: Math.round(ctx.duration * 1000) / 1000,
    backend: ctx.backend?.id,
    route: ctx.route === '' ? undefined : ctx.route,
    pool: routed(ctx) && ctx.pool !== '' ? ctx.pool : undefined,
    client: ctx.clientIp,
    protocol: ctx.req.httpVersionMajor === 2 ? 'HTTP/2' : undefined,
    tries: ctx.tries === 1 ? undefined : ctx.tries,
    error: ctx.error?.code,
    policy: ctx.policy === '' ? undefined : ctx.policy,
    trace_id: ctx.traceId,
    span_id: ctx.traceId === undefined ? undefined : ctx.spanId,
  };
}
