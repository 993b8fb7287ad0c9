import { randomFillSync } from 'node:crypto';

/** Random bytes drawn at a time: one system call per 512 span ids instead of one per id. */
const POOL_BYTES = 4096;

/**
 * Trace and span ids (W3C Trace Context §3.2.2: 16 and 8 random bytes, not all zero) as
 * lowercase hex, cut from a pool that `randomFillSync` refills when it runs out.
 */
export class IdSource {
  readonly #pool = Buffer.allocUnsafe(POOL_BYTES);
  #at = POOL_BYTES;

  /** 32 hex digits. */
  traceId(): string {
    return this.#hex(16);
  }

  /** 16 hex digits. */
  spanId(): string {
    return this.#hex(8);
  }

  #hex(bytes: number): string {
    if (this.#at + bytes > POOL_BYTES) {
      randomFillSync(this.#pool);
      this.#at = 0;
    }
    const start = this.#at;
    this.#at += bytes;
    const pool = this.#pool;
    // All zeros is invalid; at 2^-64 odds, one byte set makes it valid.
    let zero = true;
    for (let i = start; i < start + bytes && zero; i++) zero = pool[i] === 0;
    if (zero) pool[start + bytes - 1] = 1;
    return pool.toString('hex', start, start + bytes);
  }
}
