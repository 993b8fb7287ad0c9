import bcrypt from 'bcryptjs';
import { createHash } from 'node:crypto';
import type { RequestContext } from '../../context/index.js';
import type { BasicAuthSpec } from './auth-spec.js';
import { TtlCache } from './ttl-cache.js';
import { headerOf, PASS, unauthorized, type AuthPolicy, type Refusal, type Verdict } from './policy.js';

/** How long a verified user:password is trusted without bcrypt again, and how many are kept. */
export const BASIC_AUTH_CACHE_TTL = 60_000;
export const BASIC_AUTH_CACHE_SIZE = 1024;

/**
 * The BasicAuth filter: `Authorization: Basic` checked against the htpasswd file's bcrypt
 * hashes. bcrypt is slow on purpose (~50-100 ms at cost 10), so it runs with
 * `bcrypt.compare` (in slices, between which the event loop serves other requests), never
 * `compareSync`; and a successful check is remembered for BASIC_AUTH_CACHE_TTL under a SHA-256
 * of the header's credentials, so a keep-alive client sending the same header pays it once a
 * minute, not per request. Failures are not remembered (a wrong password costs bcrypt each time,
 * which also slows guessing). A reload makes a new filter with an empty cache: a user removed
 * from the file is refused at once.
 */
export class BasicAuth implements AuthPolicy {
  readonly name = 'basic-auth';
  readonly keepAuthorization: boolean;
  readonly sets: readonly string[] = [];
  readonly #users: ReadonlyMap<string, string>;
  readonly #refusal: Refusal;
  readonly #cache: TtlCache<true>;

  constructor(spec: BasicAuthSpec, now: () => number = Date.now) {
    this.keepAuthorization = spec.keepAuthorization;
    this.#users = new Map(spec.users.map((u) => [u.user, u.hash]));
    this.#refusal = unauthorized('missing or wrong credentials (BasicAuth)', `Basic realm="${spec.realm}", charset="UTF-8"`);
    this.#cache = new TtlCache(BASIC_AUTH_CACHE_SIZE, BASIC_AUTH_CACHE_TTL, now);
  }

  check(ctx: RequestContext): Verdict | undefined {
    const credentials = basicCredentials(headerOf(ctx.req.rawHeaders, 'authorization'));
    if (credentials === undefined) return this.#refusal;
    return this.#cache.get(digest(credentials)) === true ? PASS : undefined;
  }

  async verify(ctx: RequestContext, signal: AbortSignal): Promise<Verdict> {
    const credentials = basicCredentials(headerOf(ctx.req.rawHeaders, 'authorization'))!;
    const decoded = Buffer.from(credentials, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const hash = colon < 0 ? undefined : this.#users.get(decoded.slice(0, colon));
    if (hash === undefined) return this.#refusal;
    const ok = await bcrypt.compare(decoded.slice(colon + 1), hash);
    if (signal.aborted) return this.#refusal;
    if (!ok) return this.#refusal;
    this.#cache.set(digest(credentials), true);
    return PASS;
  }
}

/** The base64 credentials of an `Authorization: Basic …` value (scheme case-insensitive), or undefined. */
function basicCredentials(value: string | undefined): string | undefined {
  if (value === undefined || value.length < 7 || value.slice(0, 6).toLowerCase() !== 'basic ') return undefined;
  const b64 = value.slice(6).trim();
  return b64 === '' ? undefined : b64;
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('base64');
}
