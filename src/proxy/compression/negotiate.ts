import * as zlib from 'node:zlib';

/** A content coding the balancer can apply (RFC 9110 section 8.4.1; zstd: RFC 8878). */
export type Encoding = 'br' | 'gzip' | 'zstd';

/** Every coding, in the order offered by default. */
export const ENCODINGS: readonly Encoding[] = ['br', 'gzip', 'zstd'];

/** Whether this Node has a zstd compressor (22.15+, 24): found once, at start-up. */
export const ZSTD_AVAILABLE: boolean = 'createZstdCompress' in zlib && typeof zlib.createZstdCompress === 'function';

/**
 * The coding to send for a request's `Accept-Encoding` (RFC 9110 section 12.5.3), among
 * `offered` (the server's order of preference): the one with the highest q-value above 0, ties
 * to the earlier offered; undefined (identity) when none is acceptable, when identity is
 * preferred over the best (`gzip;q=0.5, identity`), or without the field (RFC 9110 allows any
 * coding then, but clients that take codings say so). A coding not named
 * takes the q-value of `*`, else it is not acceptable; `x-gzip` is gzip.
 */
export function negotiate(accept: string | undefined, offered: readonly Encoding[]): Encoding | undefined {
  if (accept === undefined || accept === '') return undefined;
  let star = -1;
  let identity = -1;
  /** The lowest q-value above 0 given: what identity is worth when not named (as `negotiator` does). */
  let lowest = 1;
  const q: number[] = offered.map(() => -1);
  for (const part of accept.split(',')) {
    const semi = part.indexOf(';');
    const name = (semi < 0 ? part : part.slice(0, semi)).trim().toLowerCase();
    if (name === '') continue;
    const value = semi < 0 ? 1 : qValue(part.slice(semi + 1));
    if (value > 0 && value < lowest) lowest = value;
    if (name === '*') star = value;
    else if (name === 'identity') identity = value;
    else {
      const i = offered.indexOf((name === 'x-gzip' ? 'gzip' : name) as Encoding);
      if (i >= 0) q[i] = value;
    }
  }
  let best: Encoding | undefined;
  let bestQ = 0;
  for (let i = 0; i < offered.length; i++) {
    const value = q[i]! >= 0 ? q[i]! : star >= 0 ? star : 0;
    if (value > bestQ) {
      best = offered[i];
      bestQ = value;
    }
  }
  // Identity is acceptable unless excluded (`identity;q=0`, or `*;q=0` without an identity entry);
  // not named, it ranks with the least wanted coding, so a coding asked for by name is preferred.
  const identityQ = identity >= 0 ? identity : star >= 0 ? star : lowest;
  return best !== undefined && bestQ >= identityQ ? best : undefined;
}

/** The q parameter of an Accept-Encoding element's parameters (`q=0.5`); 1 without one, 0 when malformed. */
function qValue(params: string): number {
  for (const p of params.split(';')) {
    const eq = p.indexOf('=');
    if (eq < 0 || p.slice(0, eq).trim().toLowerCase() !== 'q') continue;
    const text = p.slice(eq + 1).trim();
    // RFC 9110 section 12.4.2: 0, 1, or up to three decimals.
    if (!/^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(text)) return 0;
    return Number(text);
  }
  return 1;
}
