/**
 * IP addresses as four 32-bit words (IPv6 order; an IPv4 address in its IPv4-mapped form
 * `::ffff:a.b.c.d`, so one comparison serves both families), parsed without allocating: the
 * client address is parsed for every request when an edge policy is on.
 */

const COLON = 58;
const DOT = 46;

/** Scratch for the groups of an IPv6 address being parsed (one parse at a time: JavaScript is single-threaded). */
const GROUPS = new Uint16Array(8);

/** `text[start, end)` as an IPv4 address (a uint32), or -1. Decimal only, no leading zeros (no octal ambiguity). */
export function parseIpv4(text: string, start: number, end: number): number {
  let value = 0;
  let parts = 0;
  let i = start;
  while (parts < 4) {
    let octet = 0;
    let digits = 0;
    const first = i;
    while (i < end) {
      const c = text.charCodeAt(i) - 48;
      if (c < 0 || c > 9) break;
      octet = octet * 10 + c;
      digits++;
      i++;
    }
    if (digits === 0 || digits > 3 || octet > 255 || (digits > 1 && text.charCodeAt(first) === 48)) return -1;
    value = value * 256 + octet;
    parts++;
    if (parts < 4) {
      if (i >= end || text.charCodeAt(i) !== DOT) return -1;
      i++;
    }
  }
  return i === end ? value : -1;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const lower = c | 0x20;
  return lower >= 97 && lower <= 102 ? lower - 87 : -1;
}

/**
 * Parses `text[start, end)` (an IPv4 or IPv6 address, an IPv6 zone `%eth0` ignored) into `out`'s
 * four words. False when it is not an address; `out` is then undefined.
 */
export function parseIp(text: string, start: number, end: number, out: Uint32Array): boolean {
  if (end - start < 2) return false;
  if (text.indexOf(':', start) < 0 || text.indexOf(':', start) >= end) {
    const v4 = parseIpv4(text, start, end);
    if (v4 < 0) return false;
    out[0] = 0; out[1] = 0; out[2] = 0xffff; out[3] = v4;
    return true;
  }
  const zone = text.indexOf('%', start);
  if (zone >= 0 && zone < end) end = zone;
  let n = 0;
  let gap = -1;
  let i = start;
  if (text.charCodeAt(i) === COLON) {
    if (text.charCodeAt(i + 1) !== COLON) return false;
    gap = 0;
    i += 2;
  }
  while (i < end) {
    if (n === 8) return false;
    let j = i;
    let value = 0;
    while (j < end && j - i < 5) {
      const h = hexDigit(text.charCodeAt(j));
      if (h < 0) break;
      value = value * 16 + h;
      j++;
    }
    if (j < end && text.charCodeAt(j) === DOT) {
      // An IPv4 tail (::ffff:10.0.0.1) is the last two groups.
      if (n > 6) return false;
      const v4 = parseIpv4(text, i, end);
      if (v4 < 0) return false;
      GROUPS[n++] = v4 >>> 16;
      GROUPS[n++] = v4 & 0xffff;
      i = end;
      break;
    }
    if (j === i || j - i > 4) return false;
    GROUPS[n++] = value;
    i = j;
    if (i === end) break;
    if (text.charCodeAt(i) !== COLON) return false;
    i++;
    if (i < end && text.charCodeAt(i) === COLON) {
      if (gap >= 0) return false;
      gap = n;
      i++;
    } else if (i === end) {
      return false;
    }
  }
  if (gap < 0 ? n !== 8 : n > 7) return false;
  const fill = gap < 0 ? 0 : 8 - n;
  for (let w = 0; w < 4; w++) {
    const hi = groupAt(2 * w, gap, fill);
    const lo = groupAt(2 * w + 1, gap, fill);
    out[w] = ((hi << 16) | lo) >>> 0;
  }
  return true;
}

/** Group `k` of the expanded address: those before the gap, zeros in it, the rest after. */
function groupAt(k: number, gap: number, fill: number): number {
  if (gap < 0 || k < gap) return GROUPS[k]!;
  if (k < gap + fill) return 0;
  return GROUPS[k - fill]!;
}

/** Whether the four words are an IPv4-mapped address. */
export function isMappedIpv4(words: Uint32Array): boolean {
  return words[0] === 0 && words[1] === 0 && words[2] === 0xffff;
}
