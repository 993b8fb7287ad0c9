import type { RequestContext } from '../../context/index.js';
import type { ContextError } from '../../context/request-context.js';

/** A request an authentication filter turns away, with the answer the client gets. */
export interface Refusal extends ContextError {
  readonly headers: readonly { readonly name: string; readonly value: string }[];
  readonly contentType: string;
  readonly body: Buffer;
}

/**
 * What a filter decided: a refusal, or the request goes on with these headers set on it
 * (`[name, value, …]`, names lowercase; often none).
 */
export type Verdict = Refusal | readonly string[];

/** Goes on, with nothing to add. */
export const PASS: readonly string[] = [];

/**
 * An authentication filter, compiled once per routing table. `check` decides what can be
 * decided at once (no credentials, a cached answer) without allocating a promise; `verify`
 * does the slow part (bcrypt, a sub-request, a JWKS fetch) and must stop when `signal` aborts
 * (the client left).
 */
export interface AuthPolicy {
  /** The access line's `policy` and the metric's label: `basic-auth`, `forward-auth`, `jwt`. */
  readonly name: string;
  readonly keepAuthorization: boolean;
  /** Lowercase names of the headers this filter sets: the client's own values of them are always removed. */
  readonly sets: readonly string[];
  check(ctx: RequestContext): Verdict | undefined;
  verify(ctx: RequestContext, signal: AbortSignal): Promise<Verdict>;
  /** Stops background work (a JWKS refresh): the routing table it belongs to was replaced. */
  close?(): void;
}

const UNAUTHORIZED_BODY = Buffer.from('401 Unauthorized\n');

/** A 401 with its challenge (`WWW-Authenticate`). */
export function unauthorized(message: string, challenge: string): Refusal {
  return {
    code: 'LB_ERR_UNAUTHORIZED', status: 401, message,
    headers: [{ name: 'www-authenticate', value: challenge }, { name: 'cache-control', value: 'no-store' }],
    contentType: 'text/plain; charset=utf-8', body: UNAUTHORIZED_BODY,
  };
}

const UNAVAILABLE_BODY = Buffer.from('503 Service Unavailable\n');

/** The auth service or the JWKS could not be asked: 503, the request may be tried again. */
export function authUnavailable(message: string): Refusal {
  return { code: 'LB_ERR_AUTH_UNAVAILABLE', status: 503, message, headers: [{ name: 'cache-control', value: 'no-store' }], contentType: 'text/plain; charset=utf-8', body: UNAVAILABLE_BODY };
}

/** The first value of header `lower` in a flat header list, or undefined. */
export function headerOf(raw: readonly string[], lower: string): string | undefined {
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === lower.length && name.toLowerCase() === lower) return raw[i + 1];
  }
  return undefined;
}
