import { tlvValue } from './proxy-protocol.js';

/**
 * A PROXY protocol v2 TLV as a key or a match reads it: its type, and how its value becomes text.
 * Named ones are text (section 2.2.1 to 2.2.8 of HAProxy's spec, and AWS PrivateLink's 0xEA with
 * subtype 0x01, the VPC endpoint id); one given by number (`0xE0`) is its bytes in lowercase hex,
 * since vendors' TLVs are often binary (Google's PSC connection id is a 64-bit integer).
 */
export interface TlvKey {
  /** As configured, normalised: `authority`, `0xe0`. */
  readonly name: string;
  readonly type: number;
  /** The value must start with this subtype byte, which is not part of it (-1: none). */
  readonly subtype: number;
  readonly text: boolean;
}

const NAMED: Readonly<Record<string, Omit<TlvKey, 'name'>>> = {
  alpn: { type: 0x01, subtype: -1, text: true },
  authority: { type: 0x02, subtype: -1, text: true },
  unique_id: { type: 0x05, subtype: -1, text: true },
  netns: { type: 0x30, subtype: -1, text: true },
  aws_vpce_id: { type: 0xea, subtype: 0x01, text: true },
};

/** The names `tlv:` takes besides a type number. */
export const TLV_NAMES = Object.keys(NAMED);
export const TLV_EXPECTED = `a TLV type from 0x00 to 0xff (its value in hex) or one of ${TLV_NAMES.join(', ')} (text)`;

/** Parses `authority` or `0xE0` (also decimal `224`); undefined when it is neither. */
export function parseTlvKey(text: string): TlvKey | undefined {
  const lower = text.trim().toLowerCase();
  const named = NAMED[lower];
  if (named !== undefined) return { name: lower, ...named };
  const n = /^0x[0-9a-f]{1,2}$/.test(lower) ? Number.parseInt(lower.slice(2), 16) : /^\d{1,3}$/.test(lower) ? Number(lower) : -1;
  if (n < 0 || n > 255) return undefined;
  return { name: `0x${n.toString(16).padStart(2, '0')}`, type: n, subtype: -1, text: false };
}

/** The TLV's value as text from a connection's raw TLVs, or undefined when it has none. */
export function tlvText(tlvs: Buffer | undefined, key: TlvKey): string | undefined {
  let value = tlvValue(tlvs, key.type);
  if (value === undefined) return undefined;
  if (key.subtype >= 0) {
    if (value[0] !== key.subtype) return undefined;
    value = value.subarray(1);
  }
  return key.text ? value.toString('latin1') : value.toString('hex');
}

/**
 * A verified token's claim as text: a string as it is, a number or boolean as written, anything
 * else (an array, an object) as JSON; undefined when there is no verified token or no such claim.
 */
export function claimText(claims: Readonly<Record<string, unknown>> | undefined, name: string): string | undefined {
  const value = claims?.[name];
  if (value === undefined || value === null) return undefined;
  return typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/** A claim name as `jwt:<claim>` takes it: a JSON member name without control characters. */
export const CLAIM_NAME = /^[^\s\x00-\x1f:]{1,128}$/;
