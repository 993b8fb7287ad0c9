import type { TlsOptions } from 'node:tls';
import type { Logger } from 'pino';
import type { Config } from '../../config/index.js';
import type { Middleware } from '../../middleware/index.js';
import { Challenges, type ChallengeChange } from './challenges.js';
import { acmeHttpChallenge } from './http-01.js';
import { AcmeManager } from './manager.js';
import { acmeChallenge, acmeNames } from './names.js';
import { AcmeCertificates } from './sni.js';
import type { KeyPair } from './storage.js';

/** TLS material a cluster's primary hands a worker: certificates, challenges, the ticket key (base64). */
export interface TlsUpdate {
  readonly certificates?: readonly (readonly [string, KeyPair])[];
  readonly challenges?: readonly ChallengeChange[];
  readonly ticketKeys?: string;
}

/**
 * ACME on one process's listeners: the certificates by name and the pending challenges they
 * answer, and, in the process that orders (alone, not a cluster's worker), the manager that gets
 * them.
 */
export class AcmeTls {
  readonly challenges = new Challenges();
  readonly certificates = new AcmeCertificates(this.challenges);
  /** Undefined in a cluster's worker: its primary orders. */
  readonly manager: AcmeManager | undefined;
  /** The HTTP-01 answerer, first in the chain after the request's own bookkeeping. */
  readonly middleware: Middleware = acmeHttpChallenge(this.challenges);

  constructor(config: Config, log: Logger, orders: boolean) {
    this.manager = !orders ? undefined : new AcmeManager({
      names: acmeNames(config),
      settings: config.acme,
      challenge: acmeChallenge(config),
      log,
      publish: {
        certificate: (name, pems) => this.certificates.set(name, pems),
        challenge: (change) => { this.challenges.apply(change); return Promise.resolve(); },
      },
    });
  }

  /** The TLS server options that choose a certificate by name and answer TLS-ALPN-01. */
  serverOptions(): Pick<TlsOptions, 'SNICallback' | 'ALPNCallback'> {
    return this.certificates.serverOptions();
  }

  /** Applies what the primary sent. */
  apply(update: TlsUpdate): void {
    for (const [name, pems] of update.certificates ?? []) this.certificates.set(name, pems);
    for (const change of update.challenges ?? []) this.challenges.apply(change);
  }
}
