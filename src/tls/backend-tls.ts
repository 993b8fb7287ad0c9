import { existsSync, readFileSync } from 'node:fs';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import { buildConnector } from 'undici';
import { ConfigError } from '../config/errors.js';
import { tlsConnectOptions, type BackendTls } from '../pool/index.js';

/** How https:// backends are verified and what the balancer shows them: BACKEND_* globally, a pool's `tls:` for its own. */
export interface BackendTlsSettings {
  readonly ca: string | undefined;
  readonly servername: string | undefined;
  readonly insecure: boolean;
  /** A client certificate (PEM chain) and key presented to backends that ask for one (mutual TLS). */
  readonly cert?: string | undefined;
  readonly key?: string | undefined;
}

/** How errors name the settings: `BACKEND_CA_FILE`, or `tls.ca of pool "api"`. */
export interface BackendTlsLabels {
  readonly ca: string;
  readonly pair: string;
}

export const GLOBAL_LABELS: BackendTlsLabels = { ca: 'BACKEND_CA_FILE', pair: 'BACKEND_CERT_FILE/BACKEND_KEY_FILE' };

/** Where Debian/Ubuntu, Fedora/RHEL and Alpine/macOS keep the system's CA bundle. */
const SYSTEM_CA_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/cert.pem'];

/**
 * TLS towards backends, from files that are read again when they change (`reload`): the trusted
 * CAs (the given file, else the system's bundle plus Node's roots) and, for mutual TLS, the
 * client certificate and key. The secure context is built once per reading, never per
 * connection; every transport asks for `secureContext` when it opens a connection, so a
 * reloaded one serves new connections while open ones keep theirs.
 */
export class BackendTlsFiles implements BackendTls {
  readonly servername: string | undefined;
  readonly rejectUnauthorized: boolean;
  readonly #settings: BackendTlsSettings;
  readonly #labels: BackendTlsLabels;
  /** False when no backend it serves speaks https and it presents no certificate: nothing is built. */
  readonly #needed: boolean;
  #context: SecureContext | undefined;

  /** Throws ConfigError naming the setting when a file cannot be read or used. */
  constructor(settings: BackendTlsSettings, needed: boolean, labels: BackendTlsLabels = GLOBAL_LABELS) {
    this.#settings = settings;
    this.#labels = labels;
    this.servername = settings.servername;
    this.rejectUnauthorized = !settings.insecure;
    this.#needed = needed || settings.cert !== undefined;
    this.#context = this.#build();
  }

  get secureContext(): SecureContext | undefined {
    return this.#context;
  }

  /** The files it reads: what to watch. */
  get files(): string[] {
    const { ca, cert, key } = this.#settings;
    return [ca, cert, key].filter((f): f is string => f !== undefined);
  }

  /** Whether it presents a client certificate. */
  get mutual(): boolean {
    return this.#settings.cert !== undefined;
  }

  /** Reads the files again; throws ConfigError (and keeps the current context) when they cannot be used. */
  reload(): void {
    this.#context = this.#build();
  }

  #build(): SecureContext | undefined {
    const { ca, cert, key } = this.#settings;
    let roots: string[];
    if (ca !== undefined) {
      // Read even when unused: a CA file that cannot be read is a mistake to say at once.
      try {
        roots = [readFileSync(ca, 'utf8')];
      } catch (err) {
        throw new ConfigError(`invalid ${this.#labels.ca} ${JSON.stringify(ca)}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
      if (!this.#needed) return undefined;
    } else {
      if (!this.#needed) return undefined;
      const system = SYSTEM_CA_BUNDLES.find((path) => existsSync(path));
      roots = [...rootCertificates, ...(system === undefined ? [] : [readFileSync(system, 'utf8')])];
    }
    let pair: { cert: Buffer; key: Buffer } | undefined;
    if (cert !== undefined && key !== undefined) {
      try {
        pair = { cert: readFileSync(cert), key: readFileSync(key) };
        createSecureContext(pair);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        throw new ConfigError(`invalid ${this.#labels.pair} ${JSON.stringify(`${cert}, ${key}`)}: expected a readable PEM certificate and its matching key (${e.code ?? e.message})`);
      }
    }
    try {
      return createSecureContext({ ca: roots, ...pair });
    } catch (err) {
      throw new ConfigError(`invalid ${this.#labels.ca} ${JSON.stringify(ca ?? '')}: expected PEM certificates (${(err as Error).message})`);
    }
  }
}

/**
 * An undici connector that opens each connection with `tls`'s current options: a reload of its
 * files reaches connections opened afterwards. The connector (and its TLS session cache) is
 * made again only when the secure context has changed.
 */
export function backendConnector(tls: BackendTls | undefined, timeout: number): buildConnector.connector {
  let context: SecureContext | undefined;
  let connector: buildConnector.connector | undefined;
  return (options, callback) => {
    const current = tls?.secureContext;
    if (connector === undefined || current !== context) {
      context = current;
      connector = buildConnector({ timeout, ...tlsConnectOptions(tls) });
    }
    connector(options, callback);
  };
}
