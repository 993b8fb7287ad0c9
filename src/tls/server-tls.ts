import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContextOptions, type TlsOptions } from 'node:tls';
import type { Logger } from 'pino';
import { ConfigError } from '../config/errors.js';
import { CertificateError, CertificateStore } from './certificate-store.js';
import type { ClientAuthMode } from './client-certificate.js';

/** The listener's TLS settings (the config's `tls` section, as far as it concerns the handshake). */
export interface ServerTlsSettings {
  /** Certificate and key files, pairs in order: the first is the default. */
  readonly cert: readonly string[] | undefined;
  readonly key: readonly string[] | undefined;
  readonly clientCa?: string | undefined;
  readonly clientAuth?: ClientAuthMode;
  readonly minVersion?: 'TLSv1.2' | 'TLSv1.3';
  readonly ciphers?: string | undefined;
  readonly ecdhCurves?: string | undefined;
}

/**
 * One fixed session id context for every certificate's context: a session made under one server
 * name's context resumes under another's, and in every worker, as OpenSSL requires the same
 * context when a client certificate is asked for.
 */
const SESSION_ID_CONTEXT = 'load-balancer';

/**
 * The TLS listener's side of the handshake: the certificates (a CertificateStore, chosen by SNI),
 * TLS_MIN_VERSION, TLS_CIPHERS, TLS_ECDH_CURVES and client certificates (TLS_CLIENT_AUTH with
 * TLS_CLIENT_CA_FILE). Each configured pair is read again on its own when its files change.
 */
export class ServerTls {
  readonly store: CertificateStore;
  readonly clientAuth: ClientAuthMode;
  readonly #pairs: readonly { readonly cert: string; readonly key: string }[];
  readonly #server: TlsOptions;

  /** Reads every pair and the client CA; throws ConfigError naming the setting and the files. */
  constructor(settings: ServerTlsSettings) {
    const certs = settings.cert ?? [];
    const keys = settings.key ?? [];
    this.#pairs = certs.map((cert, i) => ({ cert, key: keys[i]! }));
    this.clientAuth = settings.clientAuth ?? 'off';
    const common: SecureContextOptions = {
      minVersion: settings.minVersion ?? 'TLSv1.2',
      sessionIdContext: SESSION_ID_CONTEXT,
      ...(settings.ciphers === undefined ? {} : { ciphers: settings.ciphers }),
      ...(settings.ecdhCurves === undefined ? {} : { ecdhCurve: settings.ecdhCurves }),
      ...(this.clientAuth === 'off' || settings.clientCa === undefined ? {} : { ca: readClientCa(settings.clientCa) }),
    };
    this.store = new CertificateStore(common);
    for (const pair of this.#pairs) {
      try {
        this.store.set(pair.cert, readPair(pair.cert, pair.key));
      } catch (err) {
        const why = err instanceof CertificateError ? (err.cause as Error).message : (err as NodeJS.ErrnoException).code ?? (err as Error).message;
        throw new ConfigError(`invalid TLS_CERT_FILE/TLS_KEY_FILE ${JSON.stringify(`${pair.cert}, ${pair.key}`)}: expected a readable PEM certificate and its matching key (${why})`);
      }
    }
    this.#server = {
      sessionIdContext: SESSION_ID_CONTEXT,
      SNICallback: this.store.SNICallback,
      requestCert: this.clientAuth !== 'off',
      rejectUnauthorized: this.clientAuth === 'require',
    };
  }

  /** Options for the TLS server (creation and `setSecureContext`): the default certificates, SNI, client certificates. */
  serverOptions(): TlsOptions {
    return { ...this.store.defaultOptions(), ...this.#server };
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

function readClientCa(path: string): string {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`invalid TLS_CLIENT_CA_FILE ${JSON.stringify(path)}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  try {
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no PEM certificate in it');
    createSecureContext({ ca: pem });
  } catch (err) {
    throw new ConfigError(`invalid TLS_CLIENT_CA_FILE ${JSON.stringify(path)}: expected PEM CA certificates (${(err as Error).message})`);
  }
  return pem;
}
