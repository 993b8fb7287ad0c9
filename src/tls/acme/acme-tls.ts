import type { TlsOptions } from 'node:tls';
import type { Logger } from 'pino';
import type { Config } from '../../config/index.js';
import type { Middleware } from '../../middleware/index.js';
import type { ContextMaker } from '../server-contexts.js';
import { Challenges, type ChallengeChange } from './challenges.js';
import { acmeHttpChallenge } from './http-01.js';
import { AcmeManager } from './manager.js';
import { acmeChallenge, acmeNames } from './names.js';
import { AcmeCertificates } from './sni.js';
import type { KeyPair } from './storage.js';

/** TLS material a cluster's primary hands a worker: certificates, challenges, the ticket keys (base64: the current key, then the previous one). */
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
  readonly challenges: Challenges;
  readonly certificates: AcmeCertificates;
  /** Undefined in a cluster's worker: its primary orders. */
  readonly manager: AcmeManager | undefined;
  /** The HTTP-01 answerer, first in the chain after the request's own bookkeeping. */
  readonly middleware: Middleware;

  /** `contexts`: makes every context with the listener's settings and ticket keys (ServerContexts). */
  constructor(config: Config, log: Logger, orders: boolean, contexts?: ContextMaker) {
    this.challenges = new Challenges(contexts);
    this.certificates = new AcmeCertificates(this.challenges, contexts);
    this.middleware = acmeHttpChallenge(this.challenges);
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
