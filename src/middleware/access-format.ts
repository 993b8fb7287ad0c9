import type { RequestContext } from '../context/index.js';

/** A text access-log format, compiled once at start: `line` only reads the request's fields. */
export interface TextFormat {
  /** `combined`, `common` or `template`. */
  readonly name: string;
  /** The request's line, without the newline. */
  line(ctx: RequestContext): string;
}

/** An ACCESS_LOG_FORMAT field name the template language does not know; the message names it. */
export class UnknownAccessField extends Error {
  readonly code = 'LB_ERR_ACCESS_FIELD';
  override readonly name = 'UnknownAccessField';

  constructor(readonly field: string) {
    super(`unknown access-log field {${field}}; known: ${Object.keys(FIELDS).map((f) => `{${f}}`).join(' ')}`);
  }
}

/**
 * nginx's `log_format combined` and Apache's `%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"`:
 * `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`.
 */
export const COMBINED = '{client} - {remote_user} [{time_local}] "{request}" {status} {bytes} "{referer}" "{user_agent}"';
/** nginx's and Apache's common log format: combined without the referrer and user agent. */
export const COMMON = '{client} - {remote_user} [{time_local}] "{request}" {status} {bytes}';

type Field = (ctx: RequestContext, clock: Clock) => string;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number): string => (n < 10 ? `0${n}` : String(n));

/** The line's times, remade once a second (nginx's `$time_local` changes no faster). */
class Clock {
  #second = -1;
  #local = '';

  /** `07/Dec/2026:21:40:05 +0100`: local time with its offset, as nginx and Apache write it. */
  local(): string {
    const now = Date.now();
    const second = Math.floor(now / 1000);
    if (second !== this.#second) {
      this.#second = second;
      const d = new Date(second * 1000);
      const offset = -d.getTimezoneOffset();
      const abs = Math.abs(offset);
      this.#local = `${two(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${offset < 0 ? '-' : '+'}${two(Math.floor(abs / 60))}${two(abs % 60)}`;
    }
    return this.#local;
  }
}

/**
 * A value as nginx writes a variable into a text line (`escape=default`): `"`, `\`, control
 * characters and bytes beyond ASCII as `\xHH`, and an empty value as `-`.
 */
export function escapeValue(s: string | undefined): string {
  if (s === undefined || s === '') return '-';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return escapeSlow(s);
  }
  return s;
}

function escapeSlow(s: string): string {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    out += byte < 0x20 || byte > 0x7e || byte === 0x22 || byte === 0x5c ? `\\x${byte.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(byte);
  }
  return out;
}

/** The header's value (the first, when repeated). */
function header(ctx: RequestContext, name: string): string | undefined {
  const value = ctx.req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The user name of a Basic Authorization header (nginx's `$remote_user`), whether or not it was checked. */
function remoteUser(ctx: RequestContext): string | undefined {
  const auth = ctx.req.headers.authorization;
  if (auth === undefined || !/^basic /i.test(auth)) return undefined;
  const decoded = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : decoded.slice(0, colon);
}

function protocol(ctx: RequestContext): string {
  // A context made by hand (the middleware used on its own) may have no version: HTTP/1.1.
  const major = (ctx.req.httpVersionMajor as number | undefined) ?? 1;
  if (major === 2) return 'HTTP/2.0';
  const minor = (ctx.req as { httpVersionMinor?: number }).httpVersionMinor;
  return `HTTP/${major}.${minor ?? 1}`;
}

const ms = (ctx: RequestContext): string => String(Math.round(ctx.duration * 1000) / 1000);

/** Every field a template may name; missing values are written `-`. */
const FIELDS: Readonly<Record<string, Field>> = {
  client: (ctx) => escapeValue(ctx.clientIp),
  remote_user: (ctx) => escapeValue(remoteUser(ctx)),
  time_local: (_, clock) => clock.local(),
  time_iso: () => new Date().toISOString(),
  time_ms: () => String(Date.now()),
  request: (ctx) => escapeValue(`${ctx.method} ${ctx.path} ${protocol(ctx)}`),
  method: (ctx) => escapeValue(ctx.method),
  path: (ctx) => escapeValue(ctx.path),
  protocol,
  host: (ctx) => escapeValue(header(ctx, 'host') ?? header(ctx, ':authority')),
  status: (ctx) => String(ctx.status),
  grpc_status: (ctx) => (ctx.grpcStatus >= 0 ? String(ctx.grpcStatus) : '-'),
  bytes: (ctx) => String(ctx.bytes),
  bytes_in: (ctx) => String(ctx.bytesIn),
  duration_ms: ms,
  duration_s: (ctx) => (ctx.duration / 1000).toFixed(3),
  backend: (ctx) => escapeValue(ctx.backend?.id),
  route: (ctx) => escapeValue(ctx.route),
  pool: (ctx) => escapeValue(ctx.pool),
  tries: (ctx) => String(ctx.tries),
  error: (ctx) => escapeValue(ctx.error?.code),
  policy: (ctx) => escapeValue(ctx.policy),
  request_id: (ctx) => escapeValue(ctx.id),
  trace_id: (ctx) => ctx.traceId ?? '-',
  span_id: (ctx) => ctx.spanId ?? '-',
  referer: (ctx) => escapeValue(header(ctx, 'referer')),
  user_agent: (ctx) => escapeValue(header(ctx, 'user-agent')),
};

/** The names a template may use. */
export const ACCESS_FIELDS: readonly string[] = Object.freeze(Object.keys(FIELDS));

/**
 * Compiles ACCESS_LOG_FORMAT's text formats: `combined`, `common`, or a template in which
 * `{name}` is a field and everything else is written as it is. Throws UnknownAccessField for a
 * name not in ACCESS_FIELDS. `json` is not a text format: the caller keeps its own writer.
 */
export function compileAccessFormat(spec: string): TextFormat {
  const name = spec === 'combined' || spec === 'common' ? spec : 'template';
  const template = spec === 'combined' ? COMBINED : spec === 'common' ? COMMON : spec;
  const literals: string[] = [];
  const fields: Field[] = [];
  let rest = 0;
  for (const m of template.matchAll(/\{([A-Za-z0-9_]+)\}/g)) {
    const field = FIELDS[m[1]!];
    if (field === undefined || !Object.hasOwn(FIELDS, m[1]!)) throw new UnknownAccessField(m[1]!);
    literals.push(template.slice(rest, m.index));
    fields.push(field);
    rest = m.index! + m[0].length;
  }
  const last = template.slice(rest);
  const clock = new Clock();
  return {
    name,
    line(ctx) {
      let out = '';
      for (let i = 0; i < fields.length; i++) out += literals[i]! + fields[i]!(ctx, clock);
      return out + last;
    },
  };
}
