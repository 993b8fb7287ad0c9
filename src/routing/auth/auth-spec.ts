/** One user of an htpasswd file: a name and its bcrypt hash. */
export interface HtpasswdUser { readonly user: string; readonly hash: string }

/** A BasicAuth filter: the users read from its htpasswd file when the configuration was loaded. */
export interface BasicAuthSpec {
  /** The file, as resolved (relative paths from the config file's folder). */
  readonly htpasswd: string;
  readonly realm: string;
  readonly users: readonly HtpasswdUser[];
  readonly keepAuthorization: boolean;
}

/** A ForwardAuth filter: the auth service asked about each request (Traefik's ForwardAuth). */
export interface ForwardAuthSpec {
  readonly address: string;
  /** Lowercase names of the client's headers sent to the auth service (and hashed as the cache key). */
  readonly authRequestHeaders: readonly string[];
  /** Names of the auth service's response headers copied onto the request to the backend. */
  readonly authResponseHeaders: readonly string[];
  /** Milliseconds the auth service has to answer. */
  readonly timeout: number;
  /** Milliseconds an answer is reused for the same forwarded headers; 0 (the default) asks every time. */
  readonly cacheTtl: number;
  readonly keepAuthorization: boolean;
}

/** A key given in the configuration: a PEM (SPKI public key or X.509 certificate) or a JWK. */
export type StaticKey = { readonly pem: string; readonly alg: string } | { readonly jwk: Readonly<Record<string, unknown>> };

/** A JWT filter: bearer tokens verified against a JWKS URL or static keys. */
export interface JwtSpec {
  readonly jwksUrl: string | undefined;
  /** Milliseconds after a JWKS fetch before an unknown `kid` may fetch it again. */
  readonly jwksCooldown: number;
  readonly keys: readonly StaticKey[];
  readonly issuer: string | undefined;
  readonly audience: string | undefined;
  /** Allowed algorithms; empty is whatever the keys allow. */
  readonly algorithms: readonly string[];
  /** Seconds of clock difference tolerated on `exp` and `nbf`. */
  readonly clockSkew: number;
  /** Claim name → request header name. */
  readonly claimsToHeaders: readonly { readonly claim: string; readonly header: string }[];
  readonly keepAuthorization: boolean;
}
