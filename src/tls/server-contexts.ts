import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext, type SecureContextOptions, type Server as TlsServer, type TlsOptions } from 'node:tls';
import { ConfigError } from '../config/errors.js';
import type { ClientAuthMode } from './client-certificate.js';
import { SessionTickets } from './session-tickets.js';

/** The TLS listener's handshake settings, whatever its certificates come from (files, ACME). */
export interface ServerContextSettings {
  readonly clientCa?: string | undefined;
  readonly clientAuth?: ClientAuthMode;
  readonly minVersion?: 'TLSv1.2' | 'TLSv1.3';
  readonly ciphers?: string | undefined;
  readonly ecdhCurves?: string | undefined;
}

/** Certificates (PEM, each chain's leaf first) and their keys, one or several key types. */
export interface ContextCertificates {
  readonly cert: string | Buffer | readonly (string | Buffer)[];
  readonly key: string | Buffer | readonly (string | Buffer)[];
}

/** What makes the listener's contexts; the certificate store and ACME take one. */
export interface ContextMaker {
  create(certificates: ContextCertificates): SecureContext;
}

/**
 * One fixed session id context for every context: a session made under one server name's
 * context resumes under another's, and in every worker, as OpenSSL requires the same context
 * when a client certificate is asked for.
 */
const SESSION_ID_CONTEXT = 'load-balancer';

/**
 * The one place every secure context of the TLS listener is made, whatever its certificate's
 * source (TLS_CERT_FILE, ACME, a TLS-ALPN-01 challenge): TLS_MIN_VERSION, TLS_CIPHERS,
 * TLS_ECDH_CURVES, the client CA of TLS_CLIENT_AUTH, one session id context, and the session
 * ticket keys. OpenSSL takes the versions, ciphers and groups from the server's own context
 * (SNI chooses a context later in the handshake) and verifies client certificates with the
 * chosen context's CAs, so both must carry them; every context carries the ticket keys (see
 * SessionTickets).
 */
export class ServerContexts implements ContextMaker {
  readonly clientAuth: ClientAuthMode;
  /** The session ticket keys every context made here uses. */
  readonly tickets: SessionTickets;
  readonly #common: SecureContextOptions;

  /** Reads the client CA; throws ConfigError naming the setting and the file. */
  constructor(settings: ServerContextSettings, tickets: SessionTickets = new SessionTickets()) {
    this.clientAuth = settings.clientAuth ?? 'off';
    this.tickets = tickets;
    this.#common = {
      minVersion: settings.minVersion ?? 'TLSv1.2',
      sessionIdContext: SESSION_ID_CONTEXT,
      ...(settings.ciphers === undefined ? {} : { ciphers: settings.ciphers }),
      ...(settings.ecdhCurves === undefined ? {} : { ecdhCurve: settings.ecdhCurves }),
      ...(this.clientAuth === 'off' || settings.clientCa === undefined ? {} : { ca: readClientCa(settings.clientCa) }),
    };
  }

  /** A context for `certificates` with the listener's settings and ticket keys. Throws on a bad PEM or a key that does not match. */
  create(certificates: ContextCertificates): SecureContext {
    const context = createSecureContext({ ...this.#common, cert: certificates.cert as SecureContextOptions['cert'], key: certificates.key as SecureContextOptions['key'] });
    this.tickets.install(context);
    return context;
  }

  /**
   * Options for the TLS server itself (creation and `setSecureContext`): the settings, whether
   * to ask for a client certificate, and `defaults` (the certificates of clients without SNI,
   * the SNI and ALPN steps). Once the server has made its context, call `adopt`.
   */
  serverOptions(defaults: TlsOptions = {}): TlsOptions {
    return {
      ...this.#common,
      ...defaults,
      requestCert: this.clientAuth !== 'off',
      rejectUnauthorized: this.clientAuth === 'require',
    };
  }

  /**
   * Gives the server's own context (made by Node from `serverOptions`, at creation and at each
   * `setSecureContext`) the ticket keys: tickets are made and read on it whatever context SNI
   * chose. Node keeps that context in `_sharedCreds`; without it, a warning is all one can do.
   */
  adopt(server: TlsServer): boolean {
    const own = (server as unknown as { _sharedCreds?: SecureContext })._sharedCreds;
    if (own?.context === undefined) return false;
    this.tickets.install(own);
    return true;
  }
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
