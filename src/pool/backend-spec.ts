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
}

/** A backend as a user writes it: `http://host:port/prefix|weight=5|id=api-1`, or an object. */
export type BackendInput = string | { readonly url: string; readonly weight?: number | string; readonly id?: string };

/** Why a backend was refused: what was expected, and the offending part when it is not the whole. */
export class InvalidBackend extends Error {
  override readonly name = 'InvalidBackend';
  constructor(readonly expected: string, readonly part?: unknown) {
    super(`invalid backend${part === undefined ? '' : ` ${JSON.stringify(part)}`}: expected ${expected}`);
  }
}

const EXPECTED_URL = 'an http:// or https:// URL such as http://10.0.0.1:8080 (optionally with a path prefix, "|weight=N" and "|id=NAME")';
export const MAX_WEIGHT = 1_000_000;
const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
const EXPECTED_ID = 'an id of 1 to 64 letters, digits and . _ : - (starting with a letter or digit)';

/** Parses `http://host:port/prefix|weight=5|id=NAME`. */
export function parseBackendText(text: string): BackendSpec {
  const [urlText = '', ...options] = text.trim().split('|');
  let weight: unknown = 1;
  let id: unknown;
  for (const option of options) {
    const eq = option.indexOf('=');
    const key = eq < 0 ? option.trim() : option.slice(0, eq).trim();
    const value = option.slice(eq + 1).trim();
    if (key === 'weight' && eq >= 0) weight = value;
    else if (key === 'id' && eq >= 0) id = value;
    else throw new InvalidBackend(`${EXPECTED_URL}; the options are "weight=N" and "id=NAME"`, text);
  }
  return backendSpec(urlText, weight, id, text);
}

/** Parses a config-file or API entry: a URL string, or `{ url, weight?, id? }`. */
export function parseBackendEntry(entry: unknown): BackendSpec {
  if (typeof entry === 'string') return parseBackendText(entry);
  if (entry !== null && typeof entry === 'object' && !Array.isArray(entry)) {
    const { url, weight = 1, id, ...rest } = entry as Record<string, unknown>;
    if (Object.keys(rest).length > 0) throw new InvalidBackend('a backend object with only "url", "weight" and "id"', entry);
    if (typeof url !== 'string') throw new InvalidBackend(EXPECTED_URL, entry);
    return backendSpec(url, weight, id, entry);
  }
  throw new InvalidBackend(`${EXPECTED_URL}, or an object { url, weight, id }`, entry);
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

function backendSpec(urlText: string, weightValue: unknown, idValue: unknown, whole: unknown): BackendSpec {
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
  return { id, url: url.origin + pathPrefix, origin: url.origin, pathPrefix, weight };
}
