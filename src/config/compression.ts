import { DEFAULT_LEVELS, ENCODINGS, ZSTD_AVAILABLE, type Encoding } from '../proxy/compression/index.js';
import { InvalidValue } from './errors.js';

const LEVEL_RANGE: Readonly<Record<Encoding, readonly [number, number]>> = { gzip: [1, 9], br: [0, 11], zstd: [1, 19] };

/** Items of a comma-separated string or a list of strings (config files); undefined when neither. */
function items(value: unknown, text: boolean): string[] | undefined {
  if (typeof value === 'string') return value.split(',').map((v) => v.trim().toLowerCase()).filter((v) => v !== '');
  if (!text && Array.isArray(value) && value.every((v) => typeof v === 'string')) return (value as string[]).map((v) => v.trim().toLowerCase());
  return undefined;
}

/**
 * COMPRESSION: the codings offered, in order of preference (`br,gzip`); `off` or empty: none. zstd
 * on a Node without its compressor (before 22.15) is an error, not a silent drop: the operator
 * asked for it.
 */
export function encodings(value: unknown, text: boolean): readonly Encoding[] {
  const list = value === false ? [] : items(value, text);
  const expected = `off, or codings from ${ENCODINGS.join(', ')} in order of preference, comma-separated (such as br,gzip)`;
  if (list === undefined) throw new InvalidValue(expected);
  if (list.length === 1 && list[0] === 'off') return Object.freeze([]);
  for (const name of list) {
    if (!(ENCODINGS as readonly string[]).includes(name)) throw new InvalidValue(expected, name);
    if (name === 'zstd' && !ZSTD_AVAILABLE) throw new InvalidValue(`${expected}; zstd needs Node 22.15 or later (this is ${process.version})`, name);
  }
  return Object.freeze([...new Set(list)] as Encoding[]);
}

/** COMPRESSION_TYPES: media types (`application/json`) and `type/*` wildcards. */
export function mediaTypes(value: unknown, text: boolean): readonly string[] {
  const list = items(value, text);
  const expected = 'media types such as text/*,application/json,image/svg+xml, comma-separated';
  if (list === undefined || list.length === 0) throw new InvalidValue(expected);
  for (const t of list) if (!/^[a-z0-9!#$&^_.+-]+\/(\*|[a-z0-9!#$&^_.+-]+)$/.test(t)) throw new InvalidValue(expected, t);
  return Object.freeze([...new Set(list)]);
}

/** COMPRESSION_LEVEL: `coding:level` pairs (`gzip:6,br:5`); the codings not named keep their default level. */
export function levels(value: unknown, text: boolean): Readonly<Record<Encoding, number>> {
  const expected = 'coding:level pairs such as gzip:6,br:5 (gzip 1-9, br 0-11, zstd 1-19)';
  let pairs: [string, unknown][] | undefined;
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && !text) pairs = Object.entries(value);
  else pairs = items(value, text)?.map((p): [string, unknown] => { const [k, v] = p.split(':'); return [k!.trim(), v?.trim()]; });
  if (pairs === undefined) throw new InvalidValue(expected);
  const out: Record<Encoding, number> = { ...DEFAULT_LEVELS };
  for (const [name, raw] of pairs) {
    const range = LEVEL_RANGE[name as Encoding];
    const n = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : raw;
    if (range === undefined || typeof n !== 'number' || !Number.isInteger(n) || n < range[0] || n > range[1]) throw new InvalidValue(expected, `${name}:${String(raw)}`);
    out[name as Encoding] = n;
  }
  return Object.freeze(out);
}
