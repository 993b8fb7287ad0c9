import { createSecureContext, type SecureContext, type SecureContextOptions, type TlsOptions, type TLSSocket } from 'node:tls';
import type { ContextMaker } from '../server-contexts.js';
import type { Challenges } from './challenges.js';
import type { KeyPair } from './storage.js';

/**
 * Where certificates go when they are got or renewed: `source` names the certificate (here the
 * name it is for). The listener's certificate store takes them from here; new handshakes get
 * the new one, open connections keep theirs.
 */
export interface CertificateSink {
  set(source: string, pems: KeyPair): unknown;
}

/** Node's SNICallback, as the certificate store gives it. */
type SniCallback = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void;

/** The ALPN protocol of TLS-ALPN-01 validation handshakes (RFC 8737 §6.2). */
export const ACME_TLS_ALPN = 'acme-tls/1';

/** Marks a handshake whose ALPN chose acme-tls/1: the SNI step then gives it the challenge certificate. */
const VALIDATING = Symbol('acme-tls/1');

/**
 * The certificates ACME got, by name, as the TLS listener chooses them by SNI, and the
 * TLS-ALPN-01 challenge certificates of pending validations. A name without a certificate gets
 * the listener's default context: TLS_CERT_FILE's when set, else none, and the handshake fails
 * with a TLS alert (handshake_failure) rather than with a certificate for another name.
 */
export class AcmeCertificates implements CertificateSink {
  readonly #contexts = new Map<string, { pems: KeyPair; context: SecureContext }>();
  readonly #challenges: Challenges;
  /** Makes each certificate's context with the listener's settings and ticket keys (ServerContexts). */
  readonly #maker: ContextMaker;
  /** The listener's certificate store (TLS_CERT_FILE's too), when there is one: SNI chooses among all its certificates. */
  #store: (CertificateSink & { readonly SNICallback: SniCallback }) | undefined;

  constructor(challenges: Challenges, maker: ContextMaker = PLAIN) {
    this.#challenges = challenges;
    this.#maker = maker;
  }

  set(source: string, pems: KeyPair): void {
    this.#contexts.set(source, { pems, context: this.#maker.create(pems) });
    this.#store?.set(`acme:${source}`, pems);
  }

  /**
   * Serves through `store` (the listener's certificate store, with TLS_CERT_FILE's pairs) from
   * now on: every certificate got so far, and each one later, is set there as `acme:<name>`, and
   * the SNI step asks the store (its default pair for names without a certificate).
   */
  attach(store: CertificateSink & { readonly SNICallback: SniCallback }): void {
    this.#store = store;
    for (const [name, { pems }] of this.#contexts) store.set(`acme:${name}`, pems);
  }

  /** The certificate for `name`, when there is one. */
  get(name: string): KeyPair | undefined {
    return this.#contexts.get(name)?.pems;
  }

  /** Every certificate by name (for a worker that starts now). */
  entries(): [string, KeyPair][] {
    return [...this.#contexts].map(([name, { pems }]) => [name, pems]);
  }

  /**
   * The TLS server options that serve these: SNICallback (the certificate by name, or the
   * challenge certificate for a validation handshake) and ALPNCallback (h2, http/1.1, and
   * acme-tls/1 for a name whose TLS-ALPN-01 challenge is pending). Both are called as methods of
   * the socket being handshaken; OpenSSL runs the ALPN step before the certificate step in TLS 1.3,
   * which validators speak (Let's Encrypt's and Pebble's).
   */
  serverOptions(): Pick<TlsOptions, 'SNICallback' | 'ALPNCallback'> {
    const contexts = this.#contexts;
    const challenges = this.#challenges;
    const store = (): { readonly SNICallback: SniCallback } | undefined => this.#store;
    return {
      SNICallback(this: TLSSocket | undefined, servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void {
        const name = servername.toLowerCase();
        if (this !== undefined && (this as TLSSocket & { [VALIDATING]?: boolean })[VALIDATING] === true) {
          cb(null, challenges.alpnContext(name));
          return;
        }
        const files = store();
        if (files !== undefined) files.SNICallback.call(this, servername, cb);
        else cb(null, contexts.get(name)?.context);
      },
      ALPNCallback(this: TLSSocket | undefined, { servername, protocols }: { servername: string; protocols: string[] }): string | undefined {
        if (protocols.includes(ACME_TLS_ALPN) && challenges.alpnContext(servername?.toLowerCase() ?? '') !== undefined) {
          if (this !== undefined) (this as TLSSocket & { [VALIDATING]?: boolean })[VALIDATING] = true;
          return ACME_TLS_ALPN;
        }
        if (protocols.includes('h2')) return 'h2';
        if (protocols.includes('http/1.1')) return 'http/1.1';
        return undefined;
      },
    } as Pick<TlsOptions, 'SNICallback' | 'ALPNCallback'>;
  }
}

/** Contexts with Node's defaults (certificates not behind a listener, as in tests). */
const PLAIN: ContextMaker = { create: (certificates) => createSecureContext(certificates as SecureContextOptions) };
