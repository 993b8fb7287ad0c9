/**
 * Requests refused by an edge policy, by policy (`access-list`, `rate-limit`, `basic-auth`, …)
 * and route ('' for none): `lb_policy_refusals_total{policy,route}`. Both labels come from the
 * configuration, so the set stays bounded.
 */
export class PolicyRefusals {
  readonly #counts = new Map<string, number>();

  count(policy: string, route: string): void {
    const key = `${policy}\t${route}`;
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
  }

  /** The counts by `policy<TAB>route`, as a cluster's workers report them; undefined before any refusal. */
  snapshot(): Record<string, number> | undefined {
    return this.#counts.size === 0 ? undefined : Object.fromEntries(this.#counts);
  }
}

/** Adds `from` into `into` (a cluster sums its workers'). */
export function addRefusals(into: Record<string, number>, from: Record<string, number> | undefined): void {
  if (from === undefined) return;
  for (const [key, n] of Object.entries(from)) into[key] = (into[key] ?? 0) + n;
}
