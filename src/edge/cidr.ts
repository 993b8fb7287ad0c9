import { parseIp, parseIpv4 } from './ip.js';

/** What a CIDR setting's item must be, for errors. */
export const CIDR_EXPECTED = 'IPv4 or IPv6 networks in CIDR notation with the host bits zero, such as 10.0.0.0/8, 192.168.1.7 or fd00::/8';

/** A network: its address words (host bits zero) and prefix length on the 128-bit scale. */
interface Network {
  readonly words: Uint32Array;
  readonly bits: number;
  /** As configured, for logs and the access line. */
  readonly text: string;
}

/**
 * Parses `10.0.0.0/8`, `fd00::/8` or a bare address (a /32 or /128). Undefined when it is not one,
 * or when host bits are set (`10.0.0.1/8` is more likely a mistake than a wish).
 */
export function parseCidr(text: string): Network | undefined {
  const slash = text.indexOf('/');
  const end = slash < 0 ? text.length : slash;
  const words = new Uint32Array(4);
  if (!parseIp(text, 0, end, words)) return undefined;
  const v4 = parseIpv4(text, 0, end) >= 0;
  const max = v4 ? 32 : 128;
  let bits = max;
  if (slash >= 0) {
    const digits = text.slice(slash + 1);
    if (!/^(0|[1-9]\d{0,2})$/.test(digits) || Number(digits) > max) return undefined;
    bits = Number(digits);
  }
  if (v4) bits += 96;
  const mask = masks(bits);
  for (let w = 0; w < 4; w++) if (((words[w]! & mask[w]!) >>> 0) !== words[w]) return undefined;
  return { words, bits, text };
}

function masks(bits: number): Uint32Array {
  const mask = new Uint32Array(4);
  for (let w = 0; w < 4; w++) {
    const b = Math.min(32, Math.max(0, bits - 32 * w));
    mask[w] = b === 0 ? 0 : b === 32 ? 0xffffffff : (0xffffffff << (32 - b)) >>> 0;
  }
  return mask;
}

/**
 * A list of networks, built once from the configuration: `find` tells which contains an
 * address, the longest prefix first, without allocating. IPv4 networks are kept in their
 * IPv4-mapped form, so `::ffff:10.0.0.1` (a dual-stack socket's peer) is in 10.0.0.0/8; an IPv6
 * network that covers `::ffff:0:0/96` (`::/0`) therefore covers every IPv4 address too.
 * A linear scan: lists of a few hundred networks cost a few hundred word compares.
 */
export class CidrSet {
  /** Network words and masks, four per network, longest prefix first. */
  readonly #nets: Uint32Array;
  readonly #masks: Uint32Array;
  readonly #networks: readonly Network[];
  readonly #scratch = new Uint32Array(4);

  /** Throws when an item is not a network (the settings' parser has checked them already). */
  constructor(items: readonly string[]) {
    const networks = items.map((item) => {
      const net = parseCidr(item);
      if (net === undefined) throw new Error(`${JSON.stringify(item)} is not one of ${CIDR_EXPECTED}`);
      return net;
    }).sort((a, b) => b.bits - a.bits);
    this.#networks = networks;
    this.#nets = new Uint32Array(4 * networks.length);
    this.#masks = new Uint32Array(4 * networks.length);
    networks.forEach((net, i) => {
      this.#nets.set(net.words, 4 * i);
      this.#masks.set(masks(net.bits), 4 * i);
    });
  }

  get size(): number {
    return this.#networks.length;
  }

  /** The configured text of network `i` (as `find` numbers them). */
  text(i: number): string {
    return this.#networks[i]!.text;
  }

  /** Network `i`'s prefix length on the 128-bit scale (an IPv4 /8 is 104). */
  bits(i: number): number {
    return this.#networks[i]!.bits;
  }

  /** The index of the longest network holding `address` (text), or -1 (also when it is not an address). */
  find(address: string): number {
    return parseIp(address, 0, address.length, this.#scratch) ? this.findWords(this.#scratch) : -1;
  }

  /** `find` for a parsed address. */
  findWords(words: Uint32Array): number {
    const nets = this.#nets;
    const masks = this.#masks;
    const a0 = words[0]!, a1 = words[1]!, a2 = words[2]!, a3 = words[3]!;
    for (let i = 0, k = 0; i < this.#networks.length; i++, k += 4) {
      if (((a3 & masks[k + 3]!) >>> 0) === nets[k + 3] && ((a2 & masks[k + 2]!) >>> 0) === nets[k + 2]
        && ((a1 & masks[k + 1]!) >>> 0) === nets[k + 1] && ((a0 & masks[k]!) >>> 0) === nets[k]) return i;
    }
    return -1;
  }

  has(address: string): boolean {
    return this.find(address) >= 0;
  }
}
