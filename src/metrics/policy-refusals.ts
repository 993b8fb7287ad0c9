/** Separates policy and route in a key: neither a policy name nor a route name holds a newline. */
const SEP = '\n';

/**
 * Requests an edge policy refused (authentication, access lists, rate limits), by policy and
 * route: `lb_policy_refusals_total{policy,route}`. Counted only on a refusal, so a key is made
 * then, never on a request that goes through. Both names come from the configuration, so the
 * label sets stay bounded.
 */
export class PolicyRefusals {
  readonly #counts = new Map<string, number>();

  add(policy: string, route: string): void {
    const key = refusalKey(policy, route);
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
  }

  /** The counts as a plain object (what a cluster worker reports), undefined before any refusal. */
  image(): Record<string, number> | undefined {
    return this.#counts.size === 0 ? undefined : Object.fromEntries(this.#counts);
  }
}

/** Adds the counts of `image` (a worker's) into `sum`. */
export function addRefusals(sum: Record<string, number>, image: Readonly<Record<string, number>> | undefined): void {
  if (image === undefined) return;
  for (const [key, n] of Object.entries(image)) sum[key] = (sum[key] ?? 0) + n;
}

/** The key of a policy's refusals on a route, as `image` and a cluster's workers report them. */
export function refusalKey(policy: string, route: string): string {
  return policy + SEP + route;
}

/** The labels of a key made by `refusalKey`. */
export function refusalLabels(key: string): { policy: string; route: string } {
  const at = key.indexOf(SEP);
  return { policy: key.slice(0, at), route: key.slice(at + 1) };
}
