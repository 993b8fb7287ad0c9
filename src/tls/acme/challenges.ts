import { createSecureContext, type SecureContext } from 'node:tls';
import type { ContextMaker } from '../server-contexts.js';

/**
 * A change to the challenges being answered. The process that orders makes them; with WORKERS
 * they go to every worker too, since the validation request may reach any of them.
 */
export type ChallengeChange =
  | { readonly kind: 'http-01'; readonly op: 'set'; readonly token: string; readonly keyAuthorization: string }
  | { readonly kind: 'http-01'; readonly op: 'remove'; readonly token: string }
  | { readonly kind: 'tls-alpn-01'; readonly op: 'set'; readonly name: string; readonly cert: string; readonly key: string }
  | { readonly kind: 'tls-alpn-01'; readonly op: 'remove'; readonly name: string };

/** The path prefix of HTTP-01 validation requests (RFC 8555 §8.3). */
export const HTTP_CHALLENGE_PREFIX = '/.well-known/acme-challenge/';

/**
 * The challenges pending now: HTTP-01 key authorizations by token, and TLS-ALPN-01 certificates
 * (RFC 8737) by name. Small and short-lived: an entry lives for the seconds of one validation.
 */
export class Challenges {
  readonly #http = new Map<string, string>();
  readonly #alpn = new Map<string, { cert: string; key: string; context: SecureContext }>();
  /** Makes the TLS-ALPN-01 contexts: the listener's ServerContexts (its settings and ticket keys, as on every context it serves). */
  readonly #maker: ContextMaker;

  constructor(maker: ContextMaker = { create: (pems) => createSecureContext(pems as { cert: string; key: string }) }) {
    this.#maker = maker;
  }

  apply(change: ChallengeChange): void {
    if (change.kind === 'http-01') {
      if (change.op === 'set') this.#http.set(change.token, change.keyAuthorization);
      else this.#http.delete(change.token);
    } else if (change.op === 'set') {
      this.#alpn.set(change.name, { cert: change.cert, key: change.key, context: this.#maker.create({ cert: change.cert, key: change.key }) });
    } else {
      this.#alpn.delete(change.name);
    }
  }

  /** The key authorization to answer for `path`, when it is a pending HTTP-01 token's. */
  httpAnswer(path: string): string | undefined {
    if (this.#http.size === 0 || !path.startsWith(HTTP_CHALLENGE_PREFIX)) return undefined;
    return this.#http.get(path.slice(HTTP_CHALLENGE_PREFIX.length));
  }

  /** The TLS-ALPN-01 certificate for `name`, while its challenge is pending. */
  alpnContext(name: string): SecureContext | undefined {
    return this.#alpn.get(name)?.context;
  }

  /** Every pending challenge, as the changes that make it (for a worker that starts now). */
  image(): ChallengeChange[] {
    return [
      ...[...this.#http].map(([token, keyAuthorization]) => ({ kind: 'http-01', op: 'set', token, keyAuthorization }) as const),
      ...[...this.#alpn].map(([name, { cert, key }]) => ({ kind: 'tls-alpn-01', op: 'set', name, cert, key }) as const),
    ];
  }
}
