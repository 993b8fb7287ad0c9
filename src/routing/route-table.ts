import type { RouteSpec } from './route-spec.js';
import { byPrecedence, compileRule, REGEX, ruleMatches, type Rule, type TlvSource } from './rule.js';
import { findUnreachable, type Tier } from './unreachable.js';

export type { Rule } from './rule.js';

/** Distinct Host values remembered before the cache starts over (bounds memory against junk hosts). */
const HOST_CACHE_LIMIT = 1024;

/**
 * A tier as matching reads it: beside each rule, one small integer that rules most of them out
 * without reading the rule (see `pathKey`). With many routes a busy process finds the rules
 * themselves evicted from the CPU cache between two requests for the same host: a scan that
 * reads one array instead of every rule and its path string before the one that matches costs
 * a fraction of it.
 */
interface MatchTier extends Tier {
  /** Per rule: `position << 16 | char code` the path must have for the rule to match, or -1 for no such check. */
  readonly keys: readonly number[];
}

/**
 * A necessary condition of an Exact or PathPrefix rule (and none of a regex): the path's last
 * character at its place. `/p0` … `/p9` under one host differ there, so a scan reads only the
 * rule that matches.
 */
function pathKey(rule: Rule): number {
  const at = rule.path.length - 1;
  if (rule.pathRank === REGEX || at < 0 || at > 0x7fff) return -1;
  return (at << 16) | rule.path.charCodeAt(at);
}

/**
 * The routes compiled for matching, with HTTPRoute's precedence. Hosts come first: the routes
 * listing the exact host, then those whose wildcard matches (longest suffix first), then those
 * without hostnames; a request matching nothing in one tier falls through to the next. Within a
 * tier: Exact paths, then RegularExpression (longer pattern first; the spec leaves their place to
 * the implementation, we follow Envoy Gateway), then PathPrefix (longest first); ties go to a
 * method match, more header matches, more query matches, then config order.
 */
export class RouteTable {
  readonly #exact: ReadonlyMap<string, MatchTier>;
  /** Wildcard tiers, longest suffix first; `suffix` is `.example.com` for `*.example.com`. */
  readonly #wildcards: readonly { readonly suffix: string; readonly tier: MatchTier }[];
  readonly #all: readonly MatchTier[];
  readonly #cache = new Map<string, readonly MatchTier[]>();
  readonly #unreachableRules: ReadonlySet<Rule>;
  /** Rules that can never match (an earlier or more specific rule always wins): messages naming both routes. */
  readonly unreachable: readonly string[];

  private constructor(exact: Map<string, MatchTier>, wildcards: { suffix: string; tier: MatchTier }[], all: MatchTier | undefined) {
    this.#exact = exact;
    this.#wildcards = wildcards;
    this.#all = all === undefined ? [] : [all];
    const found = findUnreachable(this.#tiers());
    this.#unreachableRules = found.rules;
    this.unreachable = found.messages;
  }

  static compile(routes: readonly RouteSpec[]): RouteTable {
    const exact = new Map<string, Rule[]>();
    const wildcard = new Map<string, Rule[]>();
    const all: Rule[] = [];
    const add = (map: Map<string, Rule[]>, key: string, rules: readonly Rule[]) => {
      const list = map.get(key);
      if (list === undefined) map.set(key, [...rules]);
      else list.push(...rules);
    };
    for (const [routeIndex, route] of routes.entries()) {
      const rules = route.matches.map((match, matchIndex) => compileRule(route, routeIndex, match, matchIndex));
      if (route.hostnames.length === 0) all.push(...rules);
      for (const host of route.hostnames) {
        if (host.startsWith('*.')) add(wildcard, host.slice(1), rules);
        else add(exact, host, rules);
      }
    }
    const tier = (label: string, rules: Rule[]): MatchTier => {
      const sorted = Object.freeze(rules.sort(byPrecedence));
      return { label, rules: sorted, keys: Object.freeze(sorted.map(pathKey)) };
    };
    const exactTiers = new Map([...exact].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([host, rules]) => [host, tier(host, rules)]));
    const wildcards = [...wildcard]
      .sort(([a], [b]) => b.length - a.length || (a < b ? -1 : 1))
      .map(([suffix, rules]) => ({ suffix, tier: tier(`*${suffix}`, rules) }));
    return new RouteTable(exactTiers, wildcards, all.length === 0 ? undefined : tier('all hostnames', all));
  }

  /**
   * The rule that wins for this request, or undefined. host: the Host header value as received
   * (may carry :port, any case, may be undefined); url: the request target in origin form (path +
   * optional ?query); raw: the raw header list [name, value, name, value, …] (names any case).
   */
  match(host: string | undefined, method: string, url: string, raw: readonly string[], source?: TlvSource): Rule | undefined {
    const tiers = host === undefined ? this.#all : this.#tiersFor(host);
    const q = url.indexOf('?');
    const pathEnd = q < 0 ? url.length : q;
    for (let t = 0; t < tiers.length; t++) {
      const tier = tiers[t]!;
      const keys = tier.keys;
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i]!;
        if (key >= 0) {
          const at = key >>> 16;
          if (at >= pathEnd || url.charCodeAt(at) !== (key & 0xffff)) continue;
        }
        const rule = tier.rules[i]!;
        if (ruleMatches(rule, method, url, pathEnd, raw, source)) return rule;
      }
    }
    return undefined;
  }

  /** The compiled table, for `lb --check`: one line per rule in precedence order, grouped by hostname. */
  describe(): string {
    const lines: string[] = [];
    for (const tier of this.#tiers()) {
      lines.push(`${tier.label}:`);
      for (const [i, rule] of tier.rules.entries()) {
        const never = this.#unreachableRules.has(rule) ? '  (never matches)' : '';
        lines.push(`  ${i + 1}. ${conditions(rule)} -> route "${rule.route.name}" matches[${rule.matchIndex}]${never}`);
      }
    }
    return lines.length === 0 ? 'no routes' : lines.join('\n');
  }

  /** Every tier: exact hosts (alphabetical), wildcards (longest first), then all hostnames. */
  #tiers(): Tier[] {
    return [...this.#exact.values(), ...this.#wildcards.map((w) => w.tier), ...this.#all];
  }

  /** The tiers for a Host value as received; cached so a known host costs one map lookup. */
  #tiersFor(host: string): readonly MatchTier[] {
    let tiers = this.#cache.get(host);
    if (tiers === undefined) {
      if (this.#cache.size >= HOST_CACHE_LIMIT) this.#cache.clear();
      tiers = this.#resolve(normalizeHost(host));
      this.#cache.set(host, tiers);
    }
    return tiers;
  }

  #resolve(host: string): readonly MatchTier[] {
    const tiers: MatchTier[] = [];
    const exact = this.#exact.get(host);
    if (exact !== undefined) tiers.push(exact);
    // *.example.com covers a.example.com and a.b.example.com, never example.com itself.
    for (const w of this.#wildcards) if (host.length > w.suffix.length && host.endsWith(w.suffix)) tiers.push(w.tier);
    tiers.push(...this.#all);
    return Object.freeze(tiers);
  }
}

/** Lowercase, without `:port` and without the trailing dot of a fully qualified name. */
function normalizeHost(host: string): string {
  let h = host.toLowerCase();
  const close = h.lastIndexOf(']');
  const colon = h.lastIndexOf(':');
  if (colon > close) h = h.slice(0, colon);
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

function conditions(rule: Rule): string {
  const m = rule.match;
  const parts = [`${m.path.type} ${m.path.value}`];
  if (m.method !== undefined) parts.push(`method ${m.method}`);
  for (const h of m.headers) parts.push(`header ${h.name}${h.type === 'Exact' ? '=' : '~'}${h.value}`);
  for (const q of m.queryParams) parts.push(`query ${q.name}${q.type === 'Exact' ? '=' : '~'}${q.value}`);
  for (const [name, c] of [['subject', m.clientCertificate?.subject], ['san', m.clientCertificate?.san]] as const) {
    if (c !== undefined) parts.push(`client certificate ${name}${c.type === 'Exact' ? '=' : '~'}${c.value}`);
  }
  for (const c of m.jwtClaims ?? []) parts.push(`claim ${c.name}${c.type === 'Exact' ? '=' : '~'}${c.value}`);
  if (m.proxyProtocolTlv !== undefined) parts.push(`tlv ${m.proxyProtocolTlv.tlv}${m.proxyProtocolTlv.type === 'Exact' ? '=' : '~'}${m.proxyProtocolTlv.value}`);
  return parts.join(' ');
}
