/**
 * nginx's smooth weighted round robin over a route's backendRefs: deterministic, and each
 * pool's turns spread evenly (weights 90 and 10 give one turn of the second in every ten, never
 * ten in a row). Weight 0 is off. Allocates nothing per pick.
 */
export class Split<T> {
  readonly #targets: readonly T[];
  readonly #weights: Int32Array;
  readonly #current: Float64Array;
  readonly #total: number;

  constructor(targets: readonly { readonly target: T; readonly weight: number }[]) {
    const on = targets.filter((t) => t.weight > 0);
    this.#targets = on.map((t) => t.target);
    this.#weights = Int32Array.from(on.map((t) => t.weight));
    this.#current = new Float64Array(on.length);
    this.#total = on.reduce((sum, t) => sum + t.weight, 0);
  }

  /** The next target, or undefined when every weight is 0. */
  next(): T | undefined {
    const n = this.#targets.length;
    if (n <= 1) return this.#targets[0];
    const current = this.#current;
    const weights = this.#weights;
    let best = 0;
    for (let i = 0; i < n; i++) {
      current[i]! += weights[i]!;
      if (current[i]! > current[best]!) best = i;
    }
    current[best]! -= this.#total;
    return this.#targets[best];
  }
}
