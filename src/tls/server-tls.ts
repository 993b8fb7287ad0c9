import { readFileSync } from 'node:fs';
import type { TlsOptions } from 'node:tls';
import type { Logger } from 'pino';
import { ConfigError } from '../config/errors.js';
import { CertificateError, CertificateStore } from './certificate-store.js';
import { ServerContexts, type ServerContextSettings } from './server-contexts.js';

/** The listener's TLS settings (the config's `tls` section, as far as it concerns the handshake). */
export interface ServerTlsSettings extends ServerContextSettings {
  /** Certificate and key files, pairs in order: the first is the default. */
  readonly cert: readonly string[] | undefined;
  readonly key: readonly string[] | undefined;
}

/**
 * The TLS listener's certificate files: a CertificateStore, chosen by SNI, whose contexts
 * ServerContexts makes (TLS_MIN_VERSION, TLS_CIPHERS, TLS_ECDH_CURVES, client certificates,
 * ticket keys). Each configured pair is read again on its own when its files change.
 */
export class ServerTls {
  readonly store: CertificateStore;
  readonly contexts: ServerContexts;
  readonly #pairs: readonly { readonly cert: string; readonly key: string }[];

  /**
   * Reads every pair (and, without `contexts`, the client CA); throws ConfigError naming the
   * setting and the files. `contexts`: the listener's, shared with ACME's certificates.
   */
  constructor(settings: ServerTlsSettings, contexts: ServerContexts = new ServerContexts(settings)) {
    const certs = settings.cert ?? [];
    const keys = settings.key ?? [];
    this.#pairs = certs.map((cert, i) => ({ cert, key: keys[i]! }));
    this.contexts = contexts;
    this.store = new CertificateStore(contexts);
    for (const pair of this.#pairs) {
      try {
        this.store.set(pair.cert, readPair(pair.cert, pair.key));
      } catch (err) {
        const why = err instanceof CertificateError ? (err.cause as Error).message : (err as NodeJS.ErrnoException).code ?? (err as Error).message;
        throw new ConfigError(`invalid TLS_CERT_FILE/TLS_KEY_FILE ${JSON.stringify(`${pair.cert}, ${pair.key}`)}: expected a readable PEM certificate and its matching key (${why})`);
      }
    }
  }

  get clientAuth(): ServerContexts['clientAuth'] {
    return this.contexts.clientAuth;
  }

  /** Options for the TLS server (creation and `setSecureContext`): the settings, the default certificates, SNI. */
  serverOptions(): TlsOptions {
    return this.contexts.serverOptions({ ...this.store.defaultOptions(), SNICallback: this.store.SNICallback });
  }

  /** The configured certificate and key files, pairs in order. */
  get pairs(): readonly { readonly cert: string; readonly key: string }[] {
    return this.#pairs;
  }

  /**
   * Reads one pair again (all when `only` is undefined). A pair that cannot be used keeps its
   * current certificate, and says why. True when every pair read was taken.
   */
  reload(log: Logger, only?: { readonly cert: string; readonly key: string }): boolean {
    let ok = true;
    for (const pair of only === undefined ? this.#pairs : [only]) {
      try {
        const names = this.store.set(pair.cert, readPair(pair.cert, pair.key));
        log.info({ cert: pair.cert, key: pair.key, names }, 'TLS certificate reloaded');
      } catch (err) {
        ok = false;
        log.error({ cert: pair.cert, key: pair.key, err: (err as Error).message }, 'TLS certificate reload failed: keeping the current certificate');
      }
    }
    return ok;
  }
}

function readPair(cert: string, key: string): { cert: Buffer; key: Buffer } {
  return { cert: readFileSync(cert), key: readFileSync(key) };
}
