import { isIP } from 'node:net';

/**
 * One backend as configured or added at runtime, validated: its identity, base URL (origin plus
 * optional path prefix) and weight. The one parser of backend URLs and path prefixes: the
 * configuration, the library API and (later) the admin API all go through it.
 */
export interface BackendSpec {
  /** Stable identity: given (`|id=NAME`, `id:`), or `host:port` of the URL. */
  readonly id: string;
  /** Normalised base URL: origin plus path prefix, e.g. `http://10.0.0.1:8080/api`. */
  readonly url: string;
  /** `http://host:port`, what connections are made to. */
  readonly origin: string;
  /** Prepended to every request path; empty when the URL has none. */
  readonly pathPrefix: string;
  readonly weight: number;
  /** The protocol spoken to it, when the entry names one (`|proto=h2c`); else the pool's. */
  readonly proto?: BackendProto;
}

/**
 * How a backend is spoken to: HTTP/1.1, HTTP/2 over TLS (`h2`), cleartext HTTP/2 with prior
 * knowledge (`h2c`, RFC 9113 section 3.3), or `auto`: whatever an https:// backend's ALPN picks
 * (HTTP/1.1 for an http:// one).
 */
export type BackendProto = 'auto' | 'http1' | 'h2' | 'h2c';

export const BACKEND_PROTOS: readonly BackendProto[] = ['auto', 'http1', 'h2', 'h2c'];

/** A backend as a user writes it: `http://host:port/prefix|weight=5|id=api-1|proto=h2c`, or an object. */
export type BackendInput = string | { readonly url: string; readonly weight?: number | string; readonly id?: string; readonly proto?: string };

/** Why a backend was refused: what was expected, and the offending part when it is not the whole. */
export class InvalidBackend extends Error {
  override readonly name = 'InvalidBackend';
  constructor(readonly expected: string, readonly part?: unknown) {
    super(`invalid backend${part === undefined ? '' : ` ${JSON.stringify(part)}`}: expected ${expected}`);
  }
}

const EXPECTED_URL = 'an http:// or https:// URL such as http://10.0.0.1:8080 (optionally with a path prefix, "|weight=N", "|id=NAME" and "|proto=auto|http1|h2|h2c")';
const EXPECTED_PROTO = 'a protocol that is auto, http1, h2 (HTTP/2 over TLS: https:// only) or h2c (cleartext HTTP/2: http:// only)';
export const MAX_WEIGHT = 1_000_000;
const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
const EXPECTED_ID = 'an id of 1 to 64 letters, digits and . _ : - (starting with a letter or digit)';

/** Parses `http://host:port/prefix|weight=5|id=NAME|proto=h2c`. */
export function parseBackendText(text: string): BackendSpec {
  const [urlText = '', ...options] = text.trim().split('|');
  let weight: unknown = 1;
  let id: unknown;
  let proto: unknown;
  for (const option of options) {
    const eq = option.indexOf('=');
    const key = eq < 0 ? option.trim() : option.slice(0, eq).trim();
    const value = option.slice(eq + 1).trim();
    if (key === 'weight' && eq >= 0) weight = value;
    else if (key === 'id' && eq >= 0) id = value;
    else if (key === 'proto' && eq >= 0) proto = value;
    else throw new InvalidBackend(`${EXPECTED_URL}; the options are "weight=N", "id=NAME" and "proto=P"`, text);
  }
  return backendSpec(urlText, weight, id, text, proto);
}

/** Parses a config-file or API entry: a URL string, or `{ url, weight?, id?, proto? }`. */
export function parseBackendEntry(entry: unknown): BackendSpec {
  if (typeof entry === 'string') return parseBackendText(entry);
  if (entry !== null && typeof entry === 'object' && !Array.isArray(entry)) {
    const { url, weight = 1, id, proto, ...rest } = entry as Record<string, unknown>;
    if (Object.keys(rest).length > 0) throw new InvalidBackend('a backend object with only "url", "weight", "id" and "proto"', entry);
    if (typeof url !== 'string') throw new InvalidBackend(EXPECTED_URL, entry);
    return backendSpec(url, weight, id, entry, proto);
  }
  throw new InvalidBackend(`${EXPECTED_URL}, or an object { url, weight, id, proto }`, entry);
}

/**
 * A protocol as written (`|proto=`, `proto:`), checked against the backend's scheme: h2c is
 * cleartext and h2 is TLS, so each with the other scheme is a mistake, said at once.
 */
export function parseProto(value: unknown, protocol: string, whole: unknown = value): BackendProto {
  const proto = typeof value === 'string' ? value.trim().toLowerCase() : value;
  if (!BACKEND_PROTOS.includes(proto as BackendProto)) throw new InvalidBackend(EXPECTED_PROTO, whole);
  if (proto === 'h2c' && protocol !== 'http:') throw new InvalidBackend('proto h2c (cleartext HTTP/2) with an http:// URL; for https:// use h2 or auto', whole);
  if (proto === 'h2' && protocol !== 'https:') throw new InvalidBackend('proto h2 (HTTP/2 over TLS) with an https:// URL; for http:// use h2c', whole);
  return proto as BackendProto;
}

/**
 * The protocol a backend is spoken to with: its own, else its pool's (`proto:`, BACKEND_PROTO).
 * A pool's h2c with an https:// backend (or h2 with an http:// one) is refused like the
 * backend's own would be. `auto` for an http:// backend is HTTP/1.1 (no ALPN without TLS).
 * Throws InvalidBackend.
 */
export function resolveProto(spec: BackendSpec, pool: BackendProto = 'auto'): BackendProto {
  const proto = spec.proto ?? parseProto(pool, spec.origin.startsWith('https:') ? 'https:' : 'http:', spec.url);
  return proto === 'auto' && !spec.origin.startsWith('https:') ? 'http1' : proto;
}

/** A weight given as a number or digits: an integer from 1 to MAX_WEIGHT. */
export function parseWeight(value: unknown, whole: unknown = value): number {
  const weight = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
  if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 1 || weight > MAX_WEIGHT) {
    throw new InvalidBackend(`a weight that is an integer from 1 to ${MAX_WEIGHT}`, whole);
  }
  return weight;
}

/** The id of a backend that was not given one: `host:port` of its origin, the port always written. */
export function defaultId(origin: string): string {
  const url = new URL(origin);
  return `${url.hostname}:${url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : url.port}`;
}

/** Refuses two backends with one id, or one URL twice (the error says how to tell them apart). */
export function checkUnique(specs: readonly BackendSpec[]): void {
  const ids = new Set<string>();
  const urls = new Set<string>();
  for (const spec of specs) {
    if (urls.has(spec.url)) throw new InvalidBackend('each backend URL once', spec.url);
    if (ids.has(spec.id)) throw new InvalidBackend(`each backend id once (give backends on one host:port their own "|id=NAME")`, spec.id);
    urls.add(spec.url);
    ids.add(spec.id);
  }
}

function backendSpec(urlText: string, weightValue: unknown, idValue: unknown, whole: unknown, protoValue?: unknown): BackendSpec {
  let url: URL;
  try {
    url = new URL(urlText.trim());
  } catch {
    throw new InvalidBackend(EXPECTED_URL, whole);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
    throw new InvalidBackend(EXPECTED_URL, whole);
  }
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw new InvalidBackend(`${EXPECTED_URL}, without credentials, query or fragment`, whole);
  }
  const weight = parseWeight(weightValue, whole);
  const pathPrefix = url.pathname === '/' ? '' : url.pathname.replace(/\/+$/, '');
  let id: string;
  if (idValue === undefined) {
    id = defaultId(url.origin);
  } else if (typeof idValue === 'string' && ID.test(idValue)) {
    id = idValue;
  } else {
    throw new InvalidBackend(EXPECTED_ID, whole);
  }
  const spec = { id, url: url.origin + pathPrefix, origin: url.origin, pathPrefix, weight };
  return protoValue === undefined ? spec : { ...spec, proto: parseProto(protoValue, url.protocol, whole) };
}

/**
 * Backends found in DNS: `dns+http://name:port/prefix` (every A and AAAA record of `name`, on
 * `port`) or `dns+srv+http://_service._tcp.name/prefix` (the SRV records' targets and ports, the
 * lowest priority only, weighted by the records). The addresses are looked up again and again,
 * and the pool follows them.
 */
export interface DnsBackend {
  readonly kind: 'dns';
  /** The entry as written, normalised: its identity across reloads. */
  readonly text: string;
  readonly srv: boolean;
  readonly protocol: 'http:' | 'https:';
  /** The name looked up. */
  readonly name: string;
  /** The backends' port (A/AAAA); SRV records carry their own. */
  readonly port: number;
  readonly pathPrefix: string;
  /** Each address's weight (A/AAAA); SRV records carry their own. */
  readonly weight: number;
}

/** A configured backend: one address, or a name in DNS that stands for several. */
export type BackendEntry = BackendSpec | DnsBackend;

export function isDnsBackend(entry: BackendEntry): entry is DnsBackend {
  return (entry as DnsBackend).kind === 'dns';
}

const EXPECTED_DNS = 'dns+http://NAME:PORT (every A/AAAA record of NAME) or dns+srv+http://_SERVICE._tcp.NAME (its SRV records), optionally with a path prefix and, for A/AAAA, "|weight=N"';

/** Parses a configured entry: a backend URL or a `dns+` one (which the admin API does not take). */
export function parseConfiguredEntry(entry: unknown): BackendEntry {
  const text = typeof entry === 'string' ? entry : (entry as { url?: unknown } | null)?.url;
  if (typeof text === 'string' && /^\s*dns\+/i.test(text)) {
    if (typeof entry === 'string') return parseDnsText(entry);
    const { url, weight, ...rest } = entry as Record<string, unknown>;
    if (Object.keys(rest).length > 0) throw new InvalidBackend('a DNS backend object with only "url" and "weight" (its backends are named by address)', entry);
    return parseDnsText(weight === undefined ? String(url) : `${String(url)}|weight=${String(weight)}`);
  }
  return parseBackendEntry(entry);
}

/** Parses `dns+http://name:port/prefix|weight=N` or `dns+srv+http://_http._tcp.name/prefix`. */
export function parseDnsText(text: string): DnsBackend {
  const [urlText = '', ...options] = text.trim().split('|');
  const match = /^dns\+(srv\+)?(https?:\/\/.*)$/i.exec(urlText.trim());
  if (match === null) throw new InvalidBackend(EXPECTED_DNS, text);
  const srv = match[1] !== undefined;
  let url: URL;
  try {
    url = new URL(match[2]!);
  } catch {
    throw new InvalidBackend(EXPECTED_DNS, text);
  }
  const name = url.hostname.replace(/\.$/, '');
  if (isIP(name.replace(/^\[|\]$/g, '')) !== 0 || !/^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*$/.test(name)) {
    throw new InvalidBackend(`${EXPECTED_DNS}, where NAME is a DNS name (not an address)`, text);
  }
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw new InvalidBackend(`${EXPECTED_DNS}, without credentials, query or fragment`, text);
  }
  const authority = /^https?:\/\/([^/]*)/i.exec(match[2]!)?.[1] ?? '';
  if (srv && /:\d*$/.test(authority)) throw new InvalidBackend(`${EXPECTED_DNS}: SRV records give the port, so the URL has none`, text);
  let weight = 1;
  for (const option of options) {
    const eq = option.indexOf('=');
    if (!srv && eq >= 0 && option.slice(0, eq).trim() === 'weight') weight = parseWeight(option.slice(eq + 1).trim(), text);
    else throw new InvalidBackend(`${EXPECTED_DNS}; ${srv ? 'SRV records give the weights, and ' : ''}its backends are named by address ("|id=" does not apply)`, text);
  }
  const protocol = url.protocol as 'http:' | 'https:';
  const port = url.port === '' ? (protocol === 'https:' ? 443 : 80) : Number(url.port);
  const pathPrefix = url.pathname === '/' ? '' : url.pathname.replace(/\/+$/, '');
  const normalised = `dns+${srv ? 'srv+' : ''}${protocol}//${name}${srv ? '' : `:${port}`}${pathPrefix}${weight === 1 ? '' : `|weight=${weight}`}`;
  return { kind: 'dns', text: normalised, srv, protocol, name: name.toLowerCase(), port, pathPrefix, weight };
}

/** The backend at one address that a DNS entry resolved to, named `address:port`. */
export function dnsBackendSpec(entry: DnsBackend, address: string, port: number, weight: number): BackendSpec {
  const host = address.includes(':') ? `[${address}]` : address;
  const origin = `${entry.protocol}//${host}:${port}`;
  return { id: `${host}:${port}`, url: origin + entry.pathPrefix, origin, pathPrefix: entry.pathPrefix, weight };
}
