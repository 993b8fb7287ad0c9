/** A listener's requests in flight (tunnels included), and who waits for there to be none (a graceful stop). */
export class InFlight {
  #count = 0;
  readonly #idle: (() => void)[] = [];

  get count(): number {
    return this.#count;
  }

  started(): void {
    this.#count++;
  }

  ended(): void {
    if (--this.#count === 0) for (const resolve of this.#idle.splice(0)) resolve();
  }

  /** Resolves when no request is in flight. */
  whenIdle(): Promise<void> {
    if (this.#count === 0) return Promise.resolve();
    return new Promise((resolve) => { this.#idle.push(resolve); });
  }
}
