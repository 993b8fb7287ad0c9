import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import type { Client } from 'acme-client';
import type { Logger } from 'pino';
import { ConfigError } from '../../config/errors.js';
import type { AcmeSettings } from '../../config/settings.js';
import type { ChallengeChange } from './challenges.js';
import type { AcmeStorage, KeyPair } from './storage.js';

type AcmeLib = typeof import('acme-client');

/**
 * acme-client with its dependencies (axios, the ASN.1 and X.509 libraries) is about half of what
 * the balancer would load at start-up: it is loaded on the first order, and only where ACME is on.
 */
let loaded: Promise<AcmeLib> | undefined;
function acmeLib(): Promise<AcmeLib> {
  // A CommonJS module: its exports are the namespace's default.
  loaded ??= import('acme-client').then((m) => (m as { default?: AcmeLib }).default ?? m);
  return loaded;
}

/**
 * The ACME conversation (acme-client: RFC 8555 with JWS, nonces and retries done, CSRs and
 * TLS-ALPN-01 certificates made with Node's own crypto; kept up and used widely). Only the
 * process that orders makes one: the primary with WORKERS.
 */
export class AcmeClient {
  readonly #settings: AcmeSettings;
  readonly #storage: AcmeStorage;
  readonly #log: Logger;
  readonly #ca: string | undefined;
  #client: Client | undefined;

  constructor(settings: AcmeSettings, storage: AcmeStorage, log: Logger) {
    this.#settings = settings;
    this.#storage = storage;
    this.#log = log;
    // Read now, so that an unreadable file stops the start rather than the first order.
    if (settings.caFile !== undefined) {
      try {
        this.#ca = readFileSync(settings.caFile, 'utf8');
      } catch (err) {
        throw new ConfigError(`invalid ACME_CA_FILE ${JSON.stringify(settings.caFile)}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
    }
  }

  /** acme-client, loaded and set up on first use. */
  async #lib(): Promise<AcmeLib> {
    const acme = await acmeLib();
    // acme-client speaks through one axios instance of its own: a private CA is trusted there.
    if (this.#ca !== undefined) acme.axios.defaults.httpsAgent = new Agent({ ca: this.#ca, keepAlive: false });
    acme.setLogger((message: string) => this.#log.trace({ component: 'acme-client' }, message));
    return acme;
  }

  /**
   * Orders a certificate for `name` and answers its challenge of type `challenge` through
   * `publish` (which resolves once every process that may receive the validation can answer
   * it). Resolves with the new chain and its key.
   */
  async order(name: string, challenge: 'http-01' | 'tls-alpn-01', publish: (change: ChallengeChange) => Promise<void>): Promise<KeyPair> {
    const acme = await this.#lib();
    const client = await this.#account(acme);
    const [key, csr] = await acme.crypto.createCsr({ commonName: name, altNames: [name] }, await acme.crypto.createPrivateEcdsaKey());
    const cert = await client.auto({
      csr,
      email: this.#settings.email,
      termsOfServiceAgreed: true,
      challengePriority: [challenge],
      // Its self-check asks name:80 from here, which says nothing of what the CA sees (NAT, a test's ports).
      skipChallengeVerification: true,
      challengeCreateFn: async (authz, ch, keyAuthorization) => {
        if (ch.type === 'http-01') {
          await publish({ kind: 'http-01', op: 'set', token: ch.token, keyAuthorization });
        } else {
          const [alpnKey, alpnCert] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization);
          await publish({ kind: 'tls-alpn-01', op: 'set', name: authz.identifier.value, cert: alpnCert.toString(), key: alpnKey.toString() });
        }
      },
      challengeRemoveFn: async (authz, ch) => {
        await publish(ch.type === 'http-01' ? { kind: 'http-01', op: 'remove', token: ch.token } : { kind: 'tls-alpn-01', op: 'remove', name: authz.identifier.value });
      },
    });
    return { cert, key: key.toString() };
  }

  /** The client with the stored account key, made (and the key stored) the first time. */
  async #account(acme: AcmeLib): Promise<Client> {
    if (this.#client !== undefined) return this.#client;
    let accountKey = this.#storage.readAccountKey();
    if (accountKey === undefined) {
      accountKey = (await acme.crypto.createPrivateEcdsaKey()).toString();
      this.#storage.writeAccountKey(accountKey);
      this.#log.info({ storage: this.#storage.dir }, 'ACME account key created');
    }
    // Status polls start at half a second and back off to ten (acme-client's default starts at five).
    this.#client = new acme.Client({ directoryUrl: this.#settings.directory, accountKey, backoffAttempts: 12, backoffMin: 500, backoffMax: 10_000 });
    return this.#client;
  }
}
