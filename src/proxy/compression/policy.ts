import { isHeader } from '../headers.js';
import { negotiate, type Encoding } from './negotiate.js';

/** Content types compressed by default: text and the structured text formats that compress well. */
export const DEFAULT_TYPES: readonly string[] = Object.freeze([
  'text/*', 'application/json', 'application/javascript', 'application/xml', 'application/x-javascript', 'application/ld+json',
  'application/manifest+json', 'application/problem+json', 'application/rss+xml', 'application/atom+xml', 'application/x-ndjson',
  'application/graphql-response+json', 'application/wasm', 'image/svg+xml',
]);

/** Smallest body (by its Content-Length) worth compressing: below, the coding's framing eats the gain. */
export const DEFAULT_MIN_SIZE = 1024;

/**
 * Levels by coding. gzip 5 and brotli 4 keep within a few times the cost of relaying the bytes
 * (see bench/compression.ts); brotli's own default (11) is for static files, not for streaming.
 */
export const DEFAULT_LEVELS: Readonly<Record<Encoding, number>> = Object.freeze({ gzip: 5, br: 4, zstd: 3 });

/** What compresses and how, globally (COMPRESSION…) or for a route (its Compression filter). */
export interface CompressionSettings {
  /** Codings offered, in the server's order of preference; empty: off. */
  readonly encodings: readonly Encoding[];
  /** `type/subtype`, or `type/*`; lowercase. */
  readonly types: readonly string[];
  /** Bodies with a smaller Content-Length are sent as they are; a body without one is compressed. */
  readonly minSize: number;
  readonly levels: Readonly<Record<Encoding, number>>;
}

/** The response is one compression could apply to, but the client takes none of the codings offered (or asked HEAD, or a range): `Vary` only. */
export const VARY_ONLY = 'identity';
export type Decision = Encoding | typeof VARY_ONLY | undefined;

/**
 * The decision, made once for every transport: whether a response is compressed, and how. It
 * never compresses what is encoded already (`Content-Encoding`), what may not be transformed
 * (`Cache-Control: no-transform`), a range (206, or a request with `Range`), a response without
 * a body (HEAD, 204, 304, 1xx) or one whose length says it is small; it compresses only the
 * listed content types.
 */
export class CompressionPolicy {
  readonly settings: CompressionSettings;
  readonly #exact: ReadonlySet<string>;
  readonly #prefixes: readonly string[];

  constructor(settings: CompressionSettings) {
    this.settings = settings;
    this.#exact = new Set(settings.types.filter((t) => !t.endsWith('/*')));
    this.#prefixes = settings.types.filter((t) => t.endsWith('/*')).map((t) => t.slice(0, -1));
  }

  /** Compression is on: some coding is offered. */
  get on(): boolean {
    return this.settings.encodings.length > 0;
  }

  /**
   * The coding for a response with `status` and headers `response` (a flat [name, value, …]
   * list) to a request with `method` and raw headers `request`: a coding, VARY_ONLY, or
   * undefined (the response is not for compressing: it goes as it is).
   */
  choose(method: string, request: readonly string[], status: number, response: readonly string[]): Decision {
    if (!this.on || status < 200 || status === 204 || status === 206 || status === 304) return undefined;
    let type: string | undefined;
    let length = -1;
    for (let i = 0; i < response.length; i += 2) {
      const name = response[i]!;
      const value = response[i + 1]!;
      if (isHeader(name, 'content-type')) type = value;
      else if (isHeader(name, 'content-length')) length = Number(value);
      else if (isHeader(name, 'content-encoding') || isHeader(name, 'content-range')) return undefined;
      else if (isHeader(name, 'cache-control') && /(^|[\s,])no-transform([\s,]|$)/i.test(value)) return undefined;
    }
    if (type === undefined || !this.#typeMatches(type)) return undefined;
    if (length >= 0 && length < this.settings.minSize) return undefined;
    let accept: string | undefined;
    for (let i = 0; i < request.length; i += 2) {
      const name = request[i]!;
      if (isHeader(name, 'range')) return VARY_ONLY;
      if (isHeader(name, 'accept-encoding')) accept = accept === undefined ? request[i + 1]! : `${accept},${request[i + 1]!}`;
    }
    if (method === 'HEAD') return VARY_ONLY;
    return negotiate(accept, this.settings.encodings) ?? VARY_ONLY;
  }

  #typeMatches(value: string): boolean {
    const semi = value.indexOf(';');
    const type = (semi < 0 ? value : value.slice(0, semi)).trim().toLowerCase();
    if (this.#exact.has(type)) return true;
    for (const prefix of this.#prefixes) if (type.startsWith(prefix)) return true;
    return false;
  }
}

/**
 * The response headers for `decision` (not undefined): `Vary: Accept-Encoding` added (to a Vary
 * there is, unless it names it or is `*`); for a coding also `Content-Encoding`, the
 * Content-Length dropped (the length is the coding's, unknown until the end) and a strong ETag
 * made weak (RFC 9110 section 8.8.1: the bytes differ, the content is the same).
 */
export function compressedHeaders(headers: readonly string[], decision: Encoding | typeof VARY_ONLY): string[] {
  const out: string[] = [];
  let vary = -1;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    let value = headers[i + 1]!;
    if (decision !== VARY_ONLY) {
      if (isHeader(name, 'content-length')) continue;
      if (isHeader(name, 'etag') && value.startsWith('"')) value = `W/${value}`;
    }
    if (isHeader(name, 'vary')) {
      if (/(^|,)\s*(\*|accept-encoding)\s*(,|$)/i.test(value)) vary = -2;
      else if (vary === -1) vary = out.length + 1;
    }
    out.push(name, value);
  }
  if (vary === -1) out.push('vary', 'Accept-Encoding');
  else if (vary >= 0) out[vary] = `${out[vary]!}, Accept-Encoding`;
  if (decision !== VARY_ONLY) out.push('content-encoding', decision);
  return out;
}

/** Server-sent events are flushed after every chunk: each event reaches the client as it is sent. */
export function isEventStream(headers: readonly string[]): boolean {
  for (let i = 0; i < headers.length; i += 2) {
    if (isHeader(headers[i]!, 'content-type')) return headers[i + 1]!.trim().toLowerCase().startsWith('text/event-stream');
  }
  return false;
}
