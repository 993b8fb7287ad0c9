import { ConfigError, show } from '../config/errors.js';

/**
 * Where in the `routes:` section a value sits, for error messages that name the route (by name,
 * or by index when unnamed), the field path, the value given and what was expected.
 */
export class Where {
  readonly #route: string;
  readonly #source: string;

  constructor(route: string, source: string | undefined) {
    this.#route = route;
    this.#source = source === undefined ? '' : ` in ${source}`;
  }

  /** How errors name the route: `"api"`, or `routes[2]` when unnamed. */
  get route(): string {
    return this.#route;
  }

  /** `invalid route "api" matches[0].path.type "Prefixx" in lb.yaml: expected one of …` */
  fail(field: string, value: unknown, expected: string): never {
    const at = field === '' ? '' : ` ${field}`;
    throw new ConfigError(`invalid route ${this.#route}${at} ${show(value)}${this.#source}: expected ${expected}`);
  }

  /** A required field left out. */
  missing(field: string, expected: string): never {
    throw new ConfigError(`invalid route ${this.#route} ${field} is missing${this.#source}: expected ${expected}`);
  }

  /** A key that is not part of the object's vocabulary, with the keys that are. */
  unknownKey(field: string, key: string, allowed: readonly string[]): never {
    const at = field === '' ? key : `${field}.${key}`;
    throw new ConfigError(`invalid route ${this.#route} ${at} is not a known key${this.#source}: expected one of ${allowed.join(', ')}`);
  }
}

/** Joins a field path: `at('matches[0]', 'path')` → `matches[0].path`. */
export function at(field: string, key: string): string {
  return field === '' ? key : `${field}.${key}`;
}

/** The value as an object holding only `allowed` keys. */
export function record(w: Where, field: string, value: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) w.fail(field, value, `an object with keys ${allowed.join(', ')}`);
  const obj = value as Record<string, unknown>;
  for (const key of Object.keys(obj)) if (!allowed.includes(key)) w.unknownKey(field, key, allowed);
  return obj;
}

/** The value as a list; absent (undefined or null) is the empty list. */
export function list(w: Where, field: string, value: unknown, of: string): readonly unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) w.fail(field, value, `a list of ${of}`);
  return value;
}

/** A non-empty string; `expected` describes it for the error. */
export function text(w: Where, field: string, value: unknown, expected: string): string {
  if (value === undefined || value === null) w.missing(field, expected);
  if (typeof value !== 'string' || value === '') w.fail(field, value, expected);
  return value;
}

/** An integer in [min, max], or `fallback` when absent. */
export function integer(w: Where, field: string, value: unknown, min: number, max: number, fallback: number | undefined): number {
  const expected = `an integer from ${min} to ${max}`;
  if (value === undefined || value === null) return fallback ?? w.missing(field, expected);
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) w.fail(field, value, expected);
  return value;
}

/** One of `options` (case-sensitive, as Gateway API spells them), or `fallback` when absent. */
export function oneOf<T extends string | number>(w: Where, field: string, value: unknown, options: readonly T[], fallback: T | undefined): T {
  const expected = `one of ${options.join(', ')}`;
  if (value === undefined || value === null) return fallback ?? w.missing(field, expected);
  if (!options.includes(value as T)) w.fail(field, value, expected);
  return value as T;
}

const LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS_NAME = new RegExp(`^${LABEL}(\\.${LABEL})*$`);
const ALL_DIGITS = /^[0-9.]+$/;
export const HOSTNAME_EXPECTED = 'a DNS name (letters, digits, - and ., no IP address, no port)';

/** A lowercased DNS name, no IP address, no port (RFC 1123 subdomain, as Gateway API's Hostname). */
export function dnsName(w: Where, field: string, value: unknown, expected = HOSTNAME_EXPECTED): string {
  const name = text(w, field, value, expected).toLowerCase();
  if (!isDnsName(name)) w.fail(field, value, expected);
  return name;
}

/** Whether a lowercase name is a DNS name and not an IPv4 address. */
export function isDnsName(name: string): boolean {
  return name.length <= 253 && DNS_NAME.test(name) && !ALL_DIGITS.test(name);
}

/** RFC 9110 token: a header or query parameter name. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
export const TOKEN_EXPECTED = 'a header name (an RFC 9110 token: letters, digits and !#$%&\'*+-.^_`|~)';

export function token(w: Where, field: string, value: unknown, expected = TOKEN_EXPECTED): string {
  const name = text(w, field, value, expected);
  if (name.length > 256 || !TOKEN.test(name)) w.fail(field, value, expected);
  return name;
}

const UNSAFE_VALUE = /[\r\n\0]/;

/** A header value: any string without CR, LF or NUL (they would split or end the header). */
export function headerValue(w: Where, field: string, value: unknown, allowEmpty: boolean): string {
  const expected = `a${allowEmpty ? '' : ' non-empty'} string without CR, LF or NUL`;
  if (value === undefined || value === null) w.missing(field, expected);
  if (typeof value !== 'string' || (!allowEmpty && value === '') || UNSAFE_VALUE.test(value)) w.fail(field, value, expected);
  return value;
}

/** Checks that a regular expression compiles; the table compiles its anchored form once. */
export function regex(w: Where, field: string, value: string): string {
  try {
    new RegExp(value);
  } catch (err) {
    w.fail(field, value, `a valid regular expression (${(err as Error).message})`);
  }
  return value;
}
