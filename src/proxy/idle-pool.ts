/** What an idle list keeps of a connection: when it became idle, and for how long it may stay. */
export interface Keepable {
  /** The keeper's tick when it was last handed back. */
  idleSince: number;
  /** Ticks it may stay idle (the backend's `Keep-Alive: timeout` hint); infinity when the backend gave none. */
  idleTicks: number;
  /** What it is bound to (the PROXY header it opened with): only a request with the same key takes it. */
  readonly reuseKey?: string | undefined;
}

/** What the keeper asks of each idle list once a tick. */
interface Trimmable {
  readonly oldestSince: number;
  trim(before: number): number;
  closeOldest(): void;
}

/** How often, in ms, idle connections are looked at: the keeper's tick. */
export const IDLE_TICK_MS = 1000;

/**
 * One backend's idle connections, for any transport: the most recently used is taken first (a
 * warm one, so the rest can go cold), and what is closed is the least recently used. `maxIdle`
 * caps what is kept once it has stayed idle a whole tick (Go's `MaxIdleConnsPerHost`): the low
 * water mark counts the connections that no request needed since the last trim, and only those
 * may close, so under steady load the idle set can swing above the cap and back between two
 * requests without a connection being closed and opened again for each.
 */
export class IdleList<C extends Keepable> implements Trimmable {
  /** Least recently used first. */
  readonly #idle: C[] = [];
  readonly #maxIdle: number;
  readonly #close: (connection: C) => void;
  readonly #keeper: IdleKeeper;
  /** The fewest idle connections since the last trim. */
  #lowWater = 0;

  /** `close` closes a connection the list lets go of; the list has forgotten it by then. */
  constructor(keeper: IdleKeeper, maxIdle: number, close: (connection: C) => void) {
    this.#keeper = keeper;
    this.#maxIdle = maxIdle;
    this.#close = close;
    keeper.add(this);
  }

  get size(): number {
    return this.#idle.length;
  }

  /** The tick since which the least recently used has been idle; infinity when none is. */
  get oldestSince(): number {
    return this.#idle.length === 0 ? Number.POSITIVE_INFINITY : this.#idle[0]!.idleSince;
  }

  /**
   * The most recently used connection bound to `key` (none: an unbound one), skipping (and
   * closing) those past the backend's own idle time. Unbound lists find theirs at the end at once.
   */
  take(key?: string): C | undefined {
    const tick = this.#keeper.tick;
    const idle = this.#idle;
    let connection: C | undefined;
    for (let i = idle.length - 1; i >= 0; i--) {
      const candidate = idle[i]!;
      if (candidate.reuseKey !== key) continue;
      if (i === idle.length - 1) idle.pop();
      else idle.splice(i, 1);
      if (tick - candidate.idleSince >= candidate.idleTicks) {
        this.#close(candidate);
        continue;
      }
      connection = candidate;
      break;
    }
    if (idle.length < this.#lowWater) this.#lowWater = idle.length;
    return connection;
  }

  /** Keeps a connection for the next request. */
  put(connection: C): void {
    connection.idleSince = this.#keeper.tick;
    this.#idle.push(connection);
    if (this.#idle.length === 1) this.#keeper.wake();
  }

  /** Forgets a connection that closed by itself (the backend closed it); false when it was not idle. */
  remove(connection: C): boolean {
    const at = this.#idle.indexOf(connection);
    if (at < 0) return false;
    this.#idle.splice(at, 1);
    if (this.#idle.length < this.#lowWater) this.#lowWater = this.#idle.length;
    return true;
  }

  /** Closes the least recently used (for the cap over all backends). */
  closeOldest(): void {
    const connection = this.#idle.shift();
    if (connection !== undefined) this.#close(connection);
  }

  /**
   * One tick: closes connections idle since before `before` (HTTP_IDLE_CONN_TIMEOUT), then those
   * beyond the cap that stayed idle all the tick, least recently used first; starts the next
   * tick's low water mark and returns how many stay idle.
   */
  trim(before: number): number {
    while (this.#idle.length > 0 && this.#idle[0]!.idleSince < before) this.#close(this.#idle.shift()!);
    let n = Math.min(this.#idle.length - this.#maxIdle, this.#lowWater);
    for (; n > 0; n--) this.#close(this.#idle.shift()!);
    this.#lowWater = this.#idle.length;
    return this.#idle.length;
  }

  /** Closes every idle connection; the list is not used again. */
  close(): void {
    this.#keeper.delete(this);
    for (const connection of this.#idle.splice(0)) this.#close(connection);
  }
}

/**
 * The idle lists of one transport: once a tick while any connection is idle, each list closes
 * what outlived HTTP_IDLE_CONN_TIMEOUT and what stayed beyond its cap, then the connections idle
 * longest over all backends close until HTTP_MAX_IDLE_CONNS holds (Go's `MaxIdleConns`), but
 * only ones idle since before the last tick (one handed back a moment ago is likely to be taken
 * again at once).
 */
export class IdleKeeper {
  /** Ticks since start: the clock of `idleSince`. */
  tick = 1;
  readonly #lists = new Set<Trimmable>();
  readonly #maxTotal: number;
  readonly #idleTicks: number;
  #timer: NodeJS.Timeout | undefined = undefined;
  readonly #onTick = (): void => this.trim();

  /** `idleTimeout` in ms (HTTP_IDLE_CONN_TIMEOUT; at least a tick). */
  constructor(maxTotal: number, idleTimeout: number) {
    this.#maxTotal = maxTotal;
    this.#idleTicks = Math.max(1, Math.ceil(idleTimeout / IDLE_TICK_MS));
  }

  add(list: Trimmable): void {
    this.#lists.add(list);
  }

  delete(list: Trimmable): void {
    this.#lists.delete(list);
  }

  /** A list has an idle connection: the keeper ticks until none has. */
  wake(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(this.#onTick, IDLE_TICK_MS);
    this.#timer.unref();
  }

  /** One tick (the timer's; tests call it directly). */
  trim(): void {
    const tick = ++this.tick;
    let idle = 0;
    for (const list of this.#lists) idle += list.trim(tick - this.#idleTicks);
    while (idle > this.#maxTotal) {
      let coldest: Trimmable | undefined;
      for (const list of this.#lists) {
        if (list.oldestSince < tick - 1 && (coldest === undefined || list.oldestSince < coldest.oldestSince)) coldest = list;
      }
      if (coldest === undefined) break;
      coldest.closeOldest();
      idle--;
    }
    if (idle === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Stops ticking. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
