import { createHmac, randomBytes } from 'node:crypto';
import type { Backend, Snapshot } from '../../pool/index.js';
import { Pool } from '../../pool/index.js';
import type { PickRequest, Strategy } from '../strategy.js';

export interface StickyOptions {
  /** Cookie name. */
  readonly cookie: string;
  /** HMAC key; clients cannot forge a cookie for a backend without it. Random when omitted. */
  readonly secret?: string;
}

/**
 * Sticky sessions around any strategy: a signed cookie pins a client to its backend while that
 * backend is healthy; otherwise the inner strategy picks and the cookie is rewritten. The
 * cookie value is `<backend id>.<HMAC-SHA256 of it>`; every backend's value is computed once
 * per snapshot, so checking a cookie is a map lookup, not a hash computation.
 */
export class Sticky implements Strategy {
  readonly name: string;
  readonly inner: Strategy;
  readonly #cookie: string;
  readonly #secret: string;
  readonly #attributes: string;
  #snapshot: Snapshot | undefined;
  #byValue = new Map<string, Backend>();
  #valueOf = new Map<Backend, string>();

  constructor(inner: Strategy, options: StickyOptions) {
    this.inner = inner;
    this.name = inner.name;
    this.#cookie = options.cookie;
    this.#secret = options.secret ?? randomBytes(32).toString('hex');
    this.#attributes = '; Path=/; HttpOnly; SameSite=Lax';
  }

  pick(healthy: Snapshot, request: PickRequest): Backend | undefined {
    if (healthy !== this.#snapshot) this.#rebuild(healthy);
    const value = cookieValue(request.headers.cookie, this.#cookie);
    if (value !== undefined) {
      const pinned = this.#byValue.get(value);
      if (pinned !== undefined && Pool.available(pinned)) return pinned;
    }
    const chosen = this.inner.pick(healthy, request);
    if (chosen !== undefined) {
      request.addResponseHeader?.('set-cookie', `${this.#cookie}=${this.#valueOf.get(chosen)}${this.#attributes}`);
    }
    return chosen;
  }

  /** The cookie value that pins a client to `backend`. */
  valueFor(backend: Backend): string {
    const id = backend.url;
    const mac = createHmac('sha256', this.#secret).update(id).digest('base64url').slice(0, 22);
    return `${Buffer.from(id).toString('base64url')}.${mac}`;
  }

  #rebuild(healthy: Snapshot): void {
    this.#snapshot = healthy;
    this.#byValue = new Map();
    this.#valueOf = new Map();
    for (const backend of healthy) {
      const value = this.valueFor(backend);
      this.#byValue.set(value, backend);
      this.#valueOf.set(backend, value);
    }
  }
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  let from = 0;
  for (;;) {
    const at = header.indexOf(name, from);
    if (at < 0) return undefined;
    const eq = at + name.length;
    const boundary = at === 0 || header.charCodeAt(at - 1) === 32 || header.charCodeAt(at - 1) === 59;
    if (boundary && header.charCodeAt(eq) === 61) {
      const end = header.indexOf(';', eq + 1);
      return header.slice(eq + 1, end < 0 ? header.length : end);
    }
    from = at + 1;
  }
}
