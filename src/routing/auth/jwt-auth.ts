import { createLocalJWKSet, createRemoteJWKSet, errors, exportJWK, importSPKI, importX509, jwtVerify, type CryptoKey, type JWK, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose';
import type { RequestContext } from '../../context/index.js';
import type { JwtSpec, StaticKey } from './auth-spec.js';
import { authUnavailable, headerOf, unauthorized, type AuthPolicy, type Refusal, type Verdict } from './policy.js';

const UNSAFE_VALUE = /[\r\n\0]/;

/**
 * The JWT filter (Envoy's jwt_authn): `Authorization: Bearer <token>` verified with jose:
 * its signature against the keys of a JWKS URL (fetched on first use, cached, fetched again for
 * a `kid` it does not know, at most once per `jwksCooldown`) or of static keys; `exp` and `nbf`
 * with `clockSkew` of tolerance; `iss` and `aud` when configured. Claims named in
 * `claimsToHeaders` are set on the request (strings as they are, other values as JSON; the
 * client's own values of those headers are always removed). No token: 401 with `Bearer`; a bad
 * one: 401 with `Bearer error="invalid_token"` (RFC 6750 section 3). A JWKS that cannot be
 * fetched is the balancer's problem, not the token's: 503.
 */
export class JwtAuth implements AuthPolicy {
  readonly name = 'jwt';
  readonly keepAuthorization: boolean;
  readonly sets: readonly string[];
  readonly #spec: JwtSpec;
  readonly #options: JWTVerifyOptions;
  readonly #keys: JWTVerifyGetKey | Promise<JWTVerifyGetKey>;
  readonly #missing: Refusal;
  readonly #invalid: Refusal;

  constructor(spec: JwtSpec) {
    this.#spec = spec;
    this.keepAuthorization = spec.keepAuthorization;
    this.sets = spec.claimsToHeaders.map((c) => c.header.toLowerCase());
    this.#options = {
      ...(spec.issuer === undefined ? {} : { issuer: spec.issuer }),
      ...(spec.audience === undefined ? {} : { audience: spec.audience }),
      ...(spec.algorithms.length === 0 ? {} : { algorithms: [...spec.algorithms] }),
      clockTolerance: spec.clockSkew,
    };
    this.#keys = spec.jwksUrl !== undefined
      ? createRemoteJWKSet(new URL(spec.jwksUrl), { cooldownDuration: spec.jwksCooldown, timeoutDuration: 5000 })
      : staticKeys(spec.keys);
    // A key that cannot be imported is reported on the first request; keep the rejection handled meanwhile.
    if (this.#keys instanceof Promise) this.#keys.catch(() => undefined);
    this.#missing = unauthorized('no bearer token (JWT)', 'Bearer');
    this.#invalid = unauthorized('invalid bearer token (JWT)', 'Bearer error="invalid_token"');
  }

  check(ctx: RequestContext): Verdict | undefined {
    return bearer(headerOf(ctx.req.rawHeaders, 'authorization')) === undefined ? this.#missing : undefined;
  }

  async verify(ctx: RequestContext): Promise<Verdict> {
    const token = bearer(headerOf(ctx.req.rawHeaders, 'authorization'))!;
    let payload: JWTPayload;
    try {
      payload = await this.#verify(token);
    } catch (err) {
      if (unavailable(err)) return authUnavailable(`the JWKS ${this.#spec.jwksUrl ?? ''} could not be fetched: ${(err as Error).message}`);
      ctx.log.debug({ policy: this.name, err: (err as Error).message, code: (err as { code?: string }).code }, 'bearer token refused');
      return this.#invalid;
    }
    // Verified: its claims may key hashes and rate limits from here on (never an unverified token's).
    ctx.jwtClaims = payload;
    const set: string[] = [];
    for (const { claim, header } of this.#spec.claimsToHeaders) {
      const value = payload[claim];
      if (value === undefined || value === null) continue;
      const text = typeof value === 'string' ? value : JSON.stringify(value);
      if (!UNSAFE_VALUE.test(text)) set.push(header, text);
    }
    return set;
  }

  /**
   * The request's token's claims when it verifies, else null (none, invalid, or the JWKS out of
   * reach): what a route's claim match reads, before the filter itself runs.
   */
  async claims(ctx: RequestContext): Promise<JWTPayload | null> {
    const token = bearer(headerOf(ctx.req.rawHeaders, 'authorization'));
    if (token === undefined) return null;
    try {
      return await this.#verify(token);
    } catch {
      return null;
    }
  }

  async #verify(token: string): Promise<JWTPayload> {
    const keys = await this.#keys;
    try {
      return (await jwtVerify(token, keys, this.#options)).payload;
    } catch (err) {
      // Several keys without a kid to choose: each is tried (jose hands them over in the error).
      if (!(err instanceof errors.JWKSMultipleMatchingKeys)) throw err;
      let last: unknown = err;
      for await (const key of err as unknown as AsyncIterable<CryptoKey>) {
        try {
          return (await jwtVerify(token, key, this.#options)).payload;
        } catch (e) {
          last = e;
        }
      }
      throw last;
    }
  }
}

/** The token of an `Authorization: Bearer …` value (scheme case-insensitive), or undefined. */
function bearer(value: string | undefined): string | undefined {
  if (value === undefined || value.length < 8 || value.slice(0, 7).toLowerCase() !== 'bearer ') return undefined;
  const token = value.slice(7).trim();
  return token === '' ? undefined : token;
}

/** A failure to get the keys, not a fault of the token. */
function unavailable(err: unknown): boolean {
  if (err instanceof errors.JWKSTimeout) return true;
  if (!(err instanceof errors.JOSEError)) return err instanceof TypeError; // fetch failed
  return err.code === 'ERR_JOSE_GENERIC' && /JSON Web Key Set HTTP response/.test(err.message);
}

async function staticKeys(keys: readonly StaticKey[]): Promise<JWTVerifyGetKey> {
  const jwks: JWK[] = [];
  for (const key of keys) {
    if ('jwk' in key) { jwks.push(key.jwk as unknown as JWK); continue; }
    const imported = key.pem.includes('BEGIN CERTIFICATE') ? await importX509(key.pem, key.alg, { extractable: true }) : await importSPKI(key.pem, key.alg, { extractable: true });
    jwks.push({ ...(await exportJWK(imported)), alg: key.alg });
  }
  return createLocalJWKSet({ keys: jwks });
}
