/**
 * W3C Trace Context `traceparent` (https://www.w3.org/TR/trace-context/#traceparent-header):
 * `version-traceid-parentid-flags`, read strictly for version 00 and leniently (its first four
 * fields) for later versions, as §4.3 asks.
 */

/** A parsed `traceparent`: the client's trace to continue. */
export interface ParentContext {
  readonly traceId: string;
  /** The client's span: our server span's parent. */
  readonly spanId: string;
  /** The client's sampled flag (bit 0 of the trace flags). */
  readonly sampled: boolean;
}

const ZERO_TRACE = '00000000000000000000000000000000';
const ZERO_SPAN = '0000000000000000';

function isLowerHex(value: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = value.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

/** The parent a `traceparent` value names, or undefined when it is malformed (a new trace starts then). */
export function parseTraceparent(value: string | undefined): ParentContext | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  // 2 + 1 + 32 + 1 + 16 + 1 + 2 = 55; a later version may append `-…`.
  if (v.length < 55 || v.charCodeAt(2) !== 45 || v.charCodeAt(35) !== 45 || v.charCodeAt(52) !== 45) return undefined;
  if (!isLowerHex(v, 0, 2) || !isLowerHex(v, 3, 35) || !isLowerHex(v, 36, 52) || !isLowerHex(v, 53, 55)) return undefined;
  const version = v.slice(0, 2);
  if (version === 'ff') return undefined;
  if (version === '00' && v.length !== 55) return undefined;
  if (version !== '00' && v.length > 55 && v.charCodeAt(55) !== 45) return undefined;
  const traceId = v.slice(3, 35);
  const spanId = v.slice(36, 52);
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  return { traceId, spanId, sampled: (parseInt(v.slice(53, 55), 16) & 1) === 1 };
}

/** The `traceparent` that names `spanId` of `traceId` as the parent of what the receiver does. */
export function formatTraceparent(traceId: string, spanId: string, sampled: boolean): string {
  return `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`;
}
