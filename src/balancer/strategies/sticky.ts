import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { Backend, Snapshot } from '../../pool/index.js';
import { cookieValueAt } from '../hash-key.js';
import type { Exclusion, PickRequest, Strategy } from '../strategy.js';

export interface StickyOptions {
  /** Cookie name. */
  readonly cookie: string;
  /** HMAC key; clients cannot forge a cookie for a backend without it. Random when omitted. */
  readonly secret?: string;
}

/**
 * Sticky sessions around any strategy: a signed cookie pins a client to its backend while that
 * backend is available (and not excluded by a retry); otherwise the inner strategy picks and
 * the cookie is rewritten. The cookie value is `<short hash of the backend id>.<HMAC-SHA256 of
 * it>`; every available backend's value is computed once per snapshot, so checking a cookie is
 * a string comparison, not a hash computation.
 */
export class Sticky implements Strategy {
  readonly name: string;
  readonly inner: Strategy;
  readonly #cookie: string;
  readonly #secret: string;
  readonly #attributes: string;
  #snapshot: Snapshot | undefined;
  /** `name=value` Set-Cookie prefixes and values, aligned with the snapshot. */
  #values: string[] = [];

  constructor(inner: Strategy, options: StickyOptions) {
    this.inner = inner;
    this.name = inner.name;
    this.#cookie = options.cookie;
    this.#secret = options.secret ?? randomBytes(32).toString('hex');
    this.#attributes = '; Path=/; HttpOnly; SameSite=Lax';
  }

  pick(snapshot: Snapshot, request: PickRequest, exclude?: Exclusion): Backend | undefined {
    if (snapshot !== this.#snapshot) this.#rebuild(snapshot);
    const header = request.headers.cookie;
    const at = header === undefined ? -1 : cookieValueAt(header, this.#cookie);
    if (at >= 0) {
      // Compare in place against each healthy backend's value: no slicing, no allocation.
      const values = this.#values;
      for (let i = 0; i < values.length; i++) {
        const value = values[i]!;
        const end = at + value.length;
        if (header!.startsWith(value, at) && (end === header!.length || header!.charCodeAt(end) === 59 /* ; */)) {
          const pinned = snapshot[i]!;
          if (exclude === undefined || !exclude.has(pinned)) return pinned;
          break;
        }
      }
    }
    const chosen = this.inner.pick(snapshot, request, exclude);
    if (chosen !== undefined) {
      request.addResponseHeader?.('set-cookie', `${this.#cookie}=${this.valueFor(chosen)}${this.#attributes}`);
    }
    return chosen;
  }

  /**
   * The cookie value that pins a client to `backend`: a short hash of its id (stable across
   * restarts, reordering and workers) and an HMAC of it.
   */
  valueFor(backend: Backend): string {
    const id = createHash('sha256').update(backend.id).digest('base64url').slice(0, 10);
    const mac = createHmac('sha256', this.#secret).update(id).digest('base64url').slice(0, 22);
    return `${id}.${mac}`;
  }

  #rebuild(snapshot: Snapshot): void {
    this.#snapshot = snapshot;
    this.#values = snapshot.map((backend) => this.valueFor(backend));
  }
}
