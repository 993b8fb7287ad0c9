import { CidrSet } from './cidr.js';
import { parseIp } from './ip.js';

/** An access list as configured: networks allowed and denied (either may be empty). */
export interface AccessListSpec {
  readonly allow: readonly string[];
  readonly deny: readonly string[];
}

/** The rule of a request refused because `allow` is set and none of it holds the client. */
export const NOT_ALLOWED = 'not in allow list';

const WORDS = new Uint32Array(4);

/**
 * ALLOW_CIDRS and DENY_CIDRS, or a route's AccessList filter, compiled once. The most specific
 * network holding the client decides (longest prefix, over both lists; a tie is a deny), so
 * `deny: [10.0.0.0/8], allow: [10.1.2.3]` lets that one host in. A client in neither list is
 * allowed when `allow` is empty, refused otherwise. Unlike nginx's allow/deny, order does not matter.
 */
export class AccessList {
  readonly #allow: CidrSet;
  readonly #deny: CidrSet;
  /** `deny 10.0.0.0/8` per deny network (the access line's `policy`), made here, not per refusal. */
  readonly #denyRules: readonly string[];

  constructor(spec: AccessListSpec) {
    this.#allow = new CidrSet(spec.allow);
    this.#deny = new CidrSet(spec.deny);
    this.#denyRules = Array.from({ length: this.#deny.size }, (_, i) => `deny ${this.#deny.text(i)}`);
  }

  /** Whether the list refuses anything at all (an empty list is no list). */
  get empty(): boolean {
    return this.#allow.size === 0 && this.#deny.size === 0;
  }

  /** The rule that refuses `address` (`deny 10.0.0.0/8`, or NOT_ALLOWED), or undefined when it may pass. */
  refusal(address: string): string | undefined {
    if (!parseIp(address, 0, address.length, WORDS)) return this.#allow.size > 0 ? NOT_ALLOWED : undefined;
    const d = this.#deny.findWords(WORDS);
    const a = this.#allow.findWords(WORDS);
    if (d >= 0 && (a < 0 || this.#deny.bits(d) >= this.#allow.bits(a))) return this.#denyRules[d];
    if (a >= 0 || this.#allow.size === 0) return undefined;
    return NOT_ALLOWED;
  }
}
