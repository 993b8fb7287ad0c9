import { InvalidValue } from './errors.js';

/** One backend as configured: a normalised base URL (origin + optional path prefix) and a weight. */
export interface BackendSpec {
  readonly url: string;
  readonly weight: number;
}

const EXPECTED_URL = 'an http:// or https:// URL such as http://10.0.0.1:8080 (optionally with a path prefix and "|weight=N")';
const MAX_WEIGHT = 1_000_000;

/**
 * Parses `http://host:port/prefix|weight=5`. The URL must be absolute http(s) without
 * credentials, query or fragment; a trailing slash of the prefix is dropped.
 */
export function parseBackendText(text: string): BackendSpec {
  const [urlText = '', ...options] = text.trim().split('|');
  let weight: unknown = 1;
  for (const option of options) {
    const eq = option.indexOf('=');
    const key = eq < 0 ? option.trim() : option.slice(0, eq).trim();
    if (key !== 'weight') throw new InvalidValue(`${EXPECTED_URL}; the only option is "weight=N"`, text);
    weight = option.slice(eq + 1).trim();
  }
  return backendSpec(urlText, weight, text);
}

/** Parses a config-file entry: a URL string, or `{ url, weight }`. */
export function parseBackendEntry(entry: unknown): BackendSpec {
  if (typeof entry === 'string') return parseBackendText(entry);
  if (entry !== null && typeof entry === 'object' && !Array.isArray(entry)) {
    const { url, weight = 1, ...rest } = entry as Record<string, unknown>;
    const unknownKeys = Object.keys(rest);
    if (unknownKeys.length > 0) throw new InvalidValue('a backend object with only "url" and "weight"', entry);
    if (typeof url !== 'string') throw new InvalidValue(EXPECTED_URL, entry);
    return backendSpec(url, weight, entry);
  }
  throw new InvalidValue(`${EXPECTED_URL}, or an object { url, weight }`, entry);
}

function backendSpec(urlText: string, weightValue: unknown, whole: unknown): BackendSpec {
  let url: URL;
  try {
    url = new URL(urlText.trim());
  } catch {
    throw new InvalidValue(EXPECTED_URL, whole);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
    throw new InvalidValue(EXPECTED_URL, whole);
  }
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw new InvalidValue(`${EXPECTED_URL}, without credentials, query or fragment`, whole);
  }
  const weight = typeof weightValue === 'string' && /^\d+$/.test(weightValue) ? Number(weightValue) : weightValue;
  if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 1 || weight > MAX_WEIGHT) {
    throw new InvalidValue(`a weight that is an integer from 1 to ${MAX_WEIGHT}`, whole);
  }
  const prefix = url.pathname === '/' ? '' : url.pathname.replace(/\/+$/, '');
  return { url: url.origin + prefix, weight };
}
