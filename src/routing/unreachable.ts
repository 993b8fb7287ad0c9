import { PREFIX, type Rule, type ValueTest } from './rule.js';

/** One hostname tier: its hostname (`example.com`, `*.example.com`, `all hostnames`) and its rules in precedence order. */
export interface Tier {
  readonly label: string;
  readonly rules: readonly Rule[];
}

/** `route "api" matches[1] (PathPrefix /v1)`: how messages name a rule. */
export function ruleName(rule: Rule): string {
  return `route "${rule.route.name}" matches[${rule.matchIndex}] (${rule.match.path.type} ${rule.match.path.value})`;
}

/**
 * Rules that can never win. A rule sits in one tier per hostname of its route (or in the tier of
 * all hosts); it is unreachable when, in each of them, an earlier rule matches every request it
 * matches: the same path (or PathPrefix `/` over a PathPrefix) and a subset of its method, header
 * and query conditions. Conservative: a rule that some request can reach is never reported.
 */
export function findUnreachable(tiers: readonly Tier[]): { readonly messages: string[]; readonly rules: Set<Rule> } {
  const shadow = new Map<Rule, { tiers: number; by: Set<string> }>();
  const count = new Map<Rule, number>();
  for (const tier of tiers) {
    for (const [i, rule] of tier.rules.entries()) {
      count.set(rule, (count.get(rule) ?? 0) + 1);
      const winner = tier.rules.slice(0, i).find((earlier) => covers(earlier, rule));
      if (winner === undefined) continue;
      const seen = shadow.get(rule) ?? { tiers: 0, by: new Set<string>() };
      seen.tiers++;
      seen.by.add(`${ruleName(winner)} for ${tier.label}`);
      shadow.set(rule, seen);
    }
  }
  const messages: string[] = [];
  const rules = new Set<Rule>();
  const inConfigOrder = [...shadow].sort(([a], [b]) => a.routeIndex - b.routeIndex || a.matchIndex - b.matchIndex);
  for (const [rule, seen] of inConfigOrder) {
    if (seen.tiers !== count.get(rule)) continue;
    rules.add(rule);
    messages.push(`${ruleName(rule)} never matches: ${[...seen.by].join('; ')} always comes first`);
  }
  return { messages, rules };
}

/** Whether `a` matches every request `b` matches. */
function covers(a: Rule, b: Rule): boolean {
  const samePath = (a.pathRank === b.pathRank && a.path === b.path) || (a.pathRank === PREFIX && a.path === '' && b.pathRank === PREFIX);
  return (
    samePath &&
    (a.method === undefined || a.method === b.method) &&
    subset(a.headers, b.headers) &&
    subset(a.queryParams, b.queryParams) &&
    (a.tlv === undefined || (b.tlv !== undefined && subset([a.tlv.test], [b.tlv.test]))) &&
    subset(a.claims, b.claims) &&
    subset(a.clientCert, b.clientCert)
  );
}

function subset(a: readonly ValueTest[], b: readonly ValueTest[]): boolean {
  return a.every((x) => b.some((y) => y.name === x.name && y.exact === x.exact && y.regex?.source === x.regex?.source));
}
