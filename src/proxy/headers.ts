import type { IncomingHttpHeaders } from 'node:http';
/**
 * Header rewriting in both directions, one pass over the raw header list each way so order,
 * case and repeated headers (several Set-Cookie) survive.
 */

/** Hop-by-hop headers (RFC 9110 section 7.6.1, plus Trailer as RFC 2616 listed it). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'transfer-encoding', 'upgrade', 'trailer']);

/** Lowercase names of hop-by-hop candidates have one of these lengths: cheap pre-filter. */
const HOP_LENGTHS = new Set([...HOP_BY_HOP].map((h) => h.length));

/**
 * Whether the header name `name` is `lower` (a lowercase name) in any case, without making a
 * lowercase copy of it: no allocation, and nothing to hash when the answer is looked up.
 */
export function isHeader(name: string, lower: string): boolean {
  const n = lower.length;
  if (name.length !== n) return false;
  for (let i = 0; i < n; i++) {
    const c = name.charCodeAt(i);
    const l = lower.charCodeAt(i);
    if (c !== l && !(c >= 0x41 && c <= 0x5a && c + 0x20 === l)) return false;
  }
  return true;
}

/** HOP_BY_HOP by name length. */
const HOP_BY_LENGTH: string[][] = [];
for (const hop of HOP_BY_HOP) (HOP_BY_LENGTH[hop.length] ??= []).push(hop);

/** The hop-by-hop header `name` is (its lowercase name), or '' when it is none. */
function hopByHop(name: string): string {
  const candidates = HOP_BY_LENGTH[name.length];
  if (candidates !== undefined) for (const hop of candidates) if (isHeader(name, hop)) return hop;
  return '';
}

/**
 * The extra names a `Connection` header lists (RFC 9110 section 7.6.1), minus the usual
 * `keep-alive`/`close`, or undefined when it lists none (the common case: no allocation).
 */
function connectionTokens(value: string | undefined, into: Set<string> | undefined): Set<string> | undefined {
  if (value === undefined) return into;
  const lower = value.toLowerCase();
  if (lower === 'keep-alive' || lower === 'close') return into;
  for (const token of lower.split(',')) {
    const t = token.trim();
    if (t !== '' && t !== 'keep-alive' && t !== 'close') (into ??= new Set()).add(t);
  }
  return into;
}

/** What the request carried that the proxy needs besides the rewritten list. */
export interface RequestHeaderInfo {
  /** The first Host header, if any. */
  host: string | undefined;
  /** True when the request declares a body (Content-Length or Transfer-Encoding). */
  hasBody: boolean;
  /** Set by the caller when the request is traced: the client's `traceparent` is left out (the transport sends its try's own). */
  dropTraceparent?: boolean;
}

/**
 * Rewrites the client's raw headers for the backend: hop-by-hop headers and those named in
 * `Connection` are dropped; `X-Forwarded-For` and `Forwarded` (RFC 7239) are appended to;
 * `X-Forwarded-Proto`, `X-Forwarded-Host` and `X-Request-Id` are set; Host is kept. `Expect` is
 * dropped because node:http has already answered `100 Continue`.
 */
export function upstreamRequestHeaders(
  raw: readonly string[], clientIp: string, proto: string, requestId: string, info: RequestHeaderInfo,
  /** An Upgrade request (WebSocket): `Upgrade` is kept and `Connection: upgrade` sent, the one exception. */
  upgrade = false,
  /** The X-Forwarded-Client-Cert of the client's verified certificate (TLS_CLIENT_AUTH), if any. */
  xfcc?: string,
): string[] {
  const out: string[] = [];
  const { xff, forwarded } = keptRequestHeaders(raw, info, upgrade, out);
  if (upgrade) out.push('connection', 'upgrade');
  const host = info.host;
  out.push('x-forwarded-for', xff === undefined ? clientIp : `${xff}, ${clientIp}`);
  out.push('x-forwarded-proto', proto);
  if (host !== undefined) out.push('x-forwarded-host', host);
  out.push('forwarded', forwardedElement(forwarded, clientIp, host, proto));
  out.push('x-request-id', requestId);
  if (xfcc !== undefined) out.push('x-forwarded-client-cert', xfcc);
  return out;
}

/**
 * Where `upstreamRequestLines` keeps the forwarding headers it made last, to reuse them: one
 * per client connection, whose address and scheme do not change, nor, usually, its Host.
 */
export interface ForwardingCache {
  forwardingHost: string | undefined;
  /** The lines for `forwardingHost`; '' for none yet. */
  forwardingLines: string;
}

/**
 * `upstreamRequestHeaders` as header lines (`name: value` and CRLF each, no blank line after):
 * the fast engine's form. The forwarding headers of a request that brings none of its own are
 * the same for every request on a connection with the same Host: made once, kept in `cache`.
 */
export function upstreamRequestLines(
  raw: readonly string[], clientIp: string, proto: string, requestId: string, info: RequestHeaderInfo, upgrade: boolean, cache: ForwardingCache,
): string {
  const kept: string[] = [];
  const { xff, forwarded } = keptRequestHeaders(raw, info, upgrade, kept);
  let lines = '';
  for (let i = 0; i < kept.length; i += 2) lines += `${kept[i]}: ${kept[i + 1]}\r\n`;
  if (upgrade) lines += 'connection: upgrade\r\n';
  const host = info.host;
  let forwarding: string;
  if (xff === undefined && forwarded === undefined && cache.forwardingLines !== '' && cache.forwardingHost === host) {
    forwarding = cache.forwardingLines;
  } else {
    forwarding = `x-forwarded-for: ${xff === undefined ? clientIp : `${xff}, ${clientIp}`}\r\nx-forwarded-proto: ${proto}\r\n${
      host === undefined ? '' : `x-forwarded-host: ${host}\r\n`}forwarded: ${forwardedElement(forwarded, clientIp, host, proto)}\r\n`;
    if (xff === undefined && forwarded === undefined) {
      // Made flat once (a read of a character does it), not at each write of a head holding it.
      forwarding.charCodeAt(0);
      cache.forwardingHost = host;
      cache.forwardingLines = forwarding;
    }
  }
  return `${lines}${forwarding}x-request-id: ${requestId}\r\n`;
}

/** The RFC 7239 element this proxy adds, after the ones the request brought. */
function forwardedElement(forwarded: string | undefined, clientIp: string, host: string | undefined, proto: string): string {
  let element = `for=${forwardedNode(clientIp)}`;
  if (host !== undefined) element += `;host=${quoted(host)}`;
  element += `;proto=${proto}`;
  return forwarded === undefined ? element : `${forwarded}, ${element}`;
}

/**
 * The client's headers that go to the backend, into `out` (see upstreamRequestHeaders), and
 * the forwarding headers it brought, to be appended to. Sets `info`.
 */
function keptRequestHeaders(
  raw: readonly string[], info: RequestHeaderInfo, upgrade: boolean, out: string[],
): { xff: string | undefined; forwarded: string | undefined } {
  let named: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (isHeader(name, 'connection')) named = connectionTokens(raw[i + 1], named);
  }
  let xff: string | undefined;
  let forwarded: string | undefined;
  let host: string | undefined;
  let cookieAt = -1;
  let hasBody = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    if (name.charCodeAt(0) === 58 /* : */) {
      // HTTP/2 pseudo-headers (RFC 9113 section 8.3): only :authority means something upstream, as Host.
      if (name === ':authority' && host === undefined) {
        host = value;
        out.push('host', value);
      }
      continue;
    }
    const lower = name.toLowerCase();
    switch (lower) {
      case 'host':
        if (host !== undefined) continue;
        host = value;
        break;
      case 'cookie':
        // HTTP/2 splits cookies into several fields; HTTP/1.1 wants one (RFC 9113 section 8.2.3).
        if (cookieAt >= 0) {
          out[cookieAt] += `; ${value}`;
          continue;
        }
        cookieAt = out.length + 1;
        break;
      case 'content-length':
        hasBody = true;
        break;
      case 'transfer-encoding':
        hasBody = true;
        continue;
      case 'x-forwarded-for':
        xff = xff === undefined ? value : `${xff}, ${value}`;
        continue;
      case 'forwarded':
        forwarded = forwarded === undefined ? value : `${forwarded}, ${value}`;
        continue;
      case 'traceparent':
        if (info.dropTraceparent === true) continue;
        break;
      case 'x-forwarded-proto': case 'x-forwarded-host': case 'x-request-id': case 'expect':
      // The balancer's to say, from the certificate it verified: a client's own is never believed.
      case 'x-forwarded-client-cert':
      // The token that asks for a routing explanation is the balancer's, never the backend's.
      case 'x-lb-explain':
        continue;
      default:
        if (HOP_LENGTHS.has(lower.length) && HOP_BY_HOP.has(lower) && !(upgrade && lower === 'upgrade')) continue;
        if (named !== undefined && named.has(lower) && !(upgrade && lower === 'upgrade')) continue;
    }
    out.push(name, value);
  }
  info.host = host;
  info.hasBody = hasBody;
  return { xff, forwarded };
}

/**
 * Rewrites a backend's raw response headers for the client: hop-by-hop headers and those named
 * in `Connection` are dropped; everything else keeps its order, case and repetitions; our
 * `X-Request-Id` replaces the backend's. undici hands headers over as latin1 bytes; latin1
 * strings round-trip them exactly.
 */
export function downstreamResponseHeaders(raw: readonly (Buffer | string)[], requestId: string, upgrade = false): string[] {
  const block = decodeBlock(raw);
  const start = block === undefined ? 0 : (raw[0] as Buffer).byteOffset;
  const out: string[] = [];
  let named: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = block === undefined ? raw[i]!.toString('latin1') : sliceOf(block, start, raw[i] as Buffer);
    const value = block === undefined ? raw[i + 1]!.toString('latin1') : sliceOf(block, start, raw[i + 1] as Buffer);
    // Only names as long as a hop-by-hop header or X-Request-Id need a closer look.
    if (!CHECKED_LENGTHS.has(name.length)) {
      out.push(name, value);
      continue;
    }
    const lower = name.toLowerCase();
    if (upgrade && lower === 'upgrade') {
      out.push(name, value);
      continue;
    }
    if (HOP_BY_HOP.has(lower)) {
      if (lower === 'connection') named = connectionTokens(value, named);
      continue;
    }
    if (lower === 'x-request-id') continue;
    out.push(name, value);
  }
  out.push('x-request-id', requestId);
  if (upgrade) out.push('Connection', 'Upgrade');
  if (named === undefined) return out;
  const kept: string[] = [];
  for (let i = 0; i < out.length; i += 2) {
    const lower = out[i]!.toLowerCase();
    if (!named.has(lower) || (upgrade && (lower === 'upgrade' || lower === 'connection'))) kept.push(out[i]!, out[i + 1]!);
  }
  return kept;
}

const CHECKED_LENGTHS = new Set([...HOP_LENGTHS, 'x-request-id'.length]);

/** What `downstreamResponseLines` noticed on its way. */
export interface ResponseHeadInfo {
  /** The backend sent a Date. */
  date: boolean;
  /** The backend sent a Content-Length. */
  length: boolean;
}

/**
 * `downstreamResponseHeaders` as header lines (`name: value` and CRLF each), for the fast
 * engine, whose raw headers are strings; in the same pass, whether the backend sent a Date and
 * a Content-Length (`info`).
 */
export function downstreamResponseLines(raw: readonly string[], requestId: string, info: ResponseHeadInfo): string {
  let lines = '';
  let date = false;
  let length = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const n = name.length;
    if (n === 4) date ||= isHeader(name, 'date');
    else if (n === 14) length ||= isHeader(name, 'content-length');
    else if (n === 12) {
      if (isHeader(name, 'x-request-id')) continue;
    } else {
      const hop = hopByHop(name);
      if (hop !== '') {
        // Names listed in Connection are dropped too: rare, so done the long way.
        if (hop === 'connection' && connectionTokens(raw[i + 1], undefined) !== undefined) return namedResponseLines(raw, requestId, info);
        continue;
      }
    }
    lines += `${name}: ${raw[i + 1]!}\r\n`;
  }
  info.date = date;
  info.length = length;
  return `${lines}x-request-id: ${requestId}\r\n`;
}

function namedResponseLines(raw: readonly string[], requestId: string, info: ResponseHeadInfo): string {
  const headers = downstreamResponseHeaders(raw, requestId);
  let lines = '';
  info.date = false;
  for (let i = 0; i < headers.length; i += 2) {
    lines += `${headers[i]}: ${headers[i + 1]}\r\n`;
    if (isHeader(headers[i]!, 'date')) info.date = true;
  }
  // The framing is the backend's, whatever its Connection header names.
  info.length = false;
  for (let i = 0; i < raw.length; i += 2) if (isHeader(raw[i]!, 'content-length')) info.length = true;
  return lines;
}

/**
 * undici's raw headers are slices of the socket chunk the head arrived in. When they all are
 * slices of one buffer, in order, one latin1 decode of the span replaces a decode per name and
 * value (a native call each); names and values are then substrings. The text starts at the
 * first slice. Otherwise (a head split across reads, strings), undefined.
 */
function decodeBlock(raw: readonly (Buffer | string)[]): string | undefined {
  if (raw.length < 4) return undefined;
  const first = raw[0]!;
  if (typeof first === 'string') return undefined;
  const memory = first.buffer;
  let end = first.byteOffset;
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i]!;
    if (typeof b === 'string' || b.buffer !== memory || b.byteOffset < end) return undefined;
    end = b.byteOffset + b.length;
  }
  // The span holds the separators too (": ", CRLF); it is still one head, so a few hundred bytes.
  if (end - first.byteOffset > 64 * 1024) return undefined;
  return Buffer.from(memory, first.byteOffset, end - first.byteOffset).toString('latin1');
}

/** The slice `b` of the block decoded from `start`. */
function sliceOf(block: string, start: number, b: Buffer): string {
  const from = b.byteOffset - start;
  return block.slice(from, from + b.length);
}

/** RFC 7239 section 6: IPv6 addresses are bracketed and quoted; IPv4 stays a bare token. */
function forwardedNode(ip: string): string {
  if (ip === '') return 'unknown';
  return ip.includes(':') ? `"[${ip}]"` : ip;
}

/** RFC 7239 section 4 / RFC 9110 section 5.6.4 quoted-string. */
function quoted(value: string): string {
  return value.includes('"') || value.includes('\\') ? `"${value.replace(/["\\]/g, '\\$&')}"` : `"${value}"`;
}

/** HTTP/2 headers as node:http2 takes and gives them: by lowercase name, repeated ones as arrays. */
export type H2Headers = Record<string, string | string[] | number | undefined>;

/**
 * The client's request for an HTTP/2 backend (RFC 9113 section 8.3.1): the headers
 * `upstreamRequestHeaders` keeps, with names in lowercase, Host as `:authority` (`authority`
 * when the request had none) and the pseudo-headers from `method` and `path`. Connection-specific
 * headers are gone (section 8.2.2); `te` is sent only as `trailers` when the client asked for
 * them. Cookies stay joined into one field, which section 8.2.3 allows.
 */
export function h2RequestHeaders(
  raw: readonly string[], clientIp: string, proto: string, requestId: string, info: RequestHeaderInfo,
  method: string, path: string, scheme: string, authority: string, xfcc?: string,
): H2Headers {
  let trailers = false;
  for (let i = 0; i < raw.length; i += 2) {
    if (isHeader(raw[i]!, 'te') && TE_TRAILERS.test(raw[i + 1]!)) trailers = true;
  }
  const kept = keptScratch;
  kept.length = 0;
  const { xff, forwarded } = keptRequestHeaders(raw, info, false, kept);
  const host = info.host;
  const out: H2Headers = { ':method': method, ':scheme': scheme, ':path': path, ':authority': host ?? authority };
  for (let i = 0; i < kept.length; i += 2) {
    const name = kept[i]!.toLowerCase();
    if (name !== 'host') addHeader(out, name, kept[i + 1]!);
  }
  kept.length = 0;
  // keptRequestHeaders drops these names: each is set once, as upstreamRequestHeaders appends them.
  out['x-forwarded-for'] = xff === undefined ? clientIp : `${xff}, ${clientIp}`;
  out['x-forwarded-proto'] = proto;
  if (host !== undefined) out['x-forwarded-host'] = host;
  out.forwarded = forwardedElement(forwarded, clientIp, host, proto);
  out['x-request-id'] = requestId;
  if (xfcc !== undefined) out['x-forwarded-client-cert'] = xfcc;
  if (trailers) out.te = 'trailers';
  return out;
}

/** What keptRequestHeaders keeps for h2RequestHeaders, which copies it out at once: one list for all, emptied after each use. */
const keptScratch: string[] = [];

/**
 * An HTTP/2 backend's response head for the client, as `downstreamResponseHeaders` makes it:
 * pseudo-headers dropped, hop-by-hop ones too (an HTTP/2 peer should send none), our
 * X-Request-Id set. `skip`, when given, names headers to leave out (moved to the trailers).
 */
export function h2ResponseHeaders(headers: H2Headers, requestId: string, skip?: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (const name in headers) {
    if (name.charCodeAt(0) === 58 /* : */ || skip?.has(name)) continue;
    // Only names as long as a hop-by-hop header or X-Request-Id need a closer look (see downstreamResponseHeaders).
    if (CHECKED_LENGTHS.has(name.length)) {
      const lower = name.toLowerCase();
      // A Connection field may name others to drop: rare (RFC 9113 section 8.2.2 forbids it), done the long way.
      if (lower === 'connection') return namedH2ResponseHeaders(headers, requestId, skip);
      if (lower === 'x-request-id' || HOP_BY_HOP.has(lower)) continue;
    }
    const value = headers[name];
    if (Array.isArray(value)) for (const v of value) out.push(name, v);
    else if (value !== undefined) out.push(name, String(value));
  }
  out.push('x-request-id', requestId);
  return out;
}

/** h2ResponseHeaders for a head with a Connection field: through downstreamResponseHeaders, which drops what it names. */
function namedH2ResponseHeaders(headers: H2Headers, requestId: string, skip: ReadonlySet<string> | undefined): string[] {
  const flat: string[] = [];
  for (const name in headers) {
    if (name.charCodeAt(0) === 58 /* : */ || skip?.has(name)) continue;
    const value = headers[name];
    if (Array.isArray(value)) for (const v of value) flat.push(name, v);
    else if (value !== undefined) flat.push(name, String(value));
  }
  return downstreamResponseHeaders(flat, requestId);
}

/** Whether a trailer field goes on (RFC 9110 section 6.5.1): no pseudo-header, nothing hop-by-hop, nothing that frames or routes the message. */
function relayedTrailer(lower: string): boolean {
  return lower.charCodeAt(0) !== 58 /* : */ && !HOP_BY_HOP.has(lower) && lower !== 'content-length' && lower !== 'host';
}

/** Trailers as they go on (see `relayedTrailer`), as node:http and node:http2 take them. */
export function relayedTrailers(trailers: H2Headers, into: Record<string, string | string[]> = {}): Record<string, string | string[]> {
  for (const name in trailers) {
    const lower = name.toLowerCase();
    if (!relayedTrailer(lower)) continue;
    const value = trailers[name];
    if (Array.isArray(value)) into[lower] = value;
    else if (value !== undefined) into[lower] = String(value);
  }
  return into;
}

/**
 * Raw trailers (name, value, …, as llhttp gives them) as the trailer lines of a chunked
 * HTTP/1.1 message (`name: value` and CRLF each), those that go on (see `relayedTrailer`), in
 * their order and case: the fast engine's form of `relayedTrailers`. '' when none goes on.
 */
export function trailerLines(raw: readonly string[]): string {
  let lines = '';
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (relayedTrailer(name.toLowerCase())) lines += `${name}: ${raw[i + 1]!}\r\n`;
  }
  return lines;
}

/**
 * Whether a backend's trailers hold a Connection field. llhttp reads one there as it reads one
 * in a head, and after `close` refuses whatever comes next on that connection: it is not reused.
 */
export function trailersEndConnection(raw: readonly (Buffer | string)[]): boolean {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (isHeader(typeof name === 'string' ? name : name.toString('latin1'), 'connection')) return true;
  }
  return false;
}

/** Whether a client can take trailers: it speaks HTTP/2, or said `TE: trailers` (RFC 9110 section 10.1.4). */
export function acceptsTrailers(raw: readonly string[], httpVersionMajor: number): boolean {
  if (httpVersionMajor === 2) return true;
  for (let i = 0; i < raw.length; i += 2) if (isHeader(raw[i]!, 'te') && TE_TRAILERS.test(raw[i + 1]!)) return true;
  return false;
}

const TE_TRAILERS = /(^|,)\s*trailers\s*(;|,|$)/i;

/** Raw trailers as undici gives them (name, value, … as latin1 bytes), as `addTrailers` takes them. */
export function rawTrailers(raw: readonly (Buffer | string)[]): Record<string, string | string[]> {
  const trailers: H2Headers = {};
  for (let i = 0; i < raw.length; i += 2) addHeader(trailers, raw[i]!.toString('latin1').toLowerCase(), raw[i + 1]!.toString('latin1'));
  return relayedTrailers(trailers);
}

function addHeader(out: H2Headers, name: string, value: string): void {
  const had = out[name];
  if (had === undefined) out[name] = value;
  else if (Array.isArray(had)) had.push(value);
  else out[name] = [String(had), value];
}

/** Headers node:http keeps only the first of (its `matchKnownFields` rule), the rest being joined with ", ". */
const FIRST_ONLY = new Set(['age', 'authorization', 'content-length', 'content-type', 'etag', 'expires', 'from', 'host',
  'if-modified-since', 'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'proxy-authorization', 'referer',
  'retry-after', 'server', 'user-agent']);

/** A request's headers by lowercase name from its raw list, as node:http builds them. */
export function headersObject(raw: readonly string[]): IncomingHttpHeaders {
  const headers: Record<string, string | string[]> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    const seen = headers[name];
    if (seen === undefined) headers[name] = name === 'set-cookie' ? [value] : value;
    else if (Array.isArray(seen)) seen.push(value);
    else if (!FIRST_ONLY.has(name)) headers[name] = name === 'cookie' ? `${seen}; ${value}` : `${seen}, ${value}`;
  }
  return headers as IncomingHttpHeaders;
}

/**
 * Gives a request a new raw header list (a filter's edit) and the headers object that goes with
 * it. node:http builds `headers` lazily from `rawHeaders` with the count its parser saw: after a
 * shorter list, node 26 reads past its end and throws (an uncaught TypeError that ended the
 * process), and an object built before the edit would still show what was removed.
 */
export function replaceRawHeaders(req: { rawHeaders: string[]; readonly headers: IncomingHttpHeaders }, raw: string[]): void {
  req.rawHeaders = raw;
  (req as { headers: IncomingHttpHeaders }).headers = headersObject(raw);
}

/**
 * The largest request body (by its Content-Length) whose rest is read and thrown away when its
 * response has ended first (a backend that answered before reading it all, RFC 9110 §15), so
 * that the client's connection is kept; a larger or chunked one closes the connection after
 * the response instead (announced with `Connection: close` when known at the head).
 */
export const DISCARD_LIMIT = 16 * 1024 * 1024;

/** Whether the rest of a request body, after an early response, is read and dropped (true) or ends the connection. */
export function discardableBody(contentLength: string | undefined): boolean {
  return contentLength !== undefined && Number(contentLength) <= DISCARD_LIMIT;
}
