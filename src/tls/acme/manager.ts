import type { Logger } from 'pino';
import type { AcmeSettings } from '../../config/settings.js';
import type { ChallengeChange } from './challenges.js';
import { AcmeClient } from './client.js';
import { backoff, renewAt, validity } from './renewal.js';
import { AcmeStorage, type KeyPair, type OrderLock } from './storage.js';

/** Where the manager's results go: the listeners of this process, or every worker's. */
export interface AcmePublisher {
  /** A certificate to serve for `name` from now on. */
  certificate(name: string, pems: KeyPair): void;
  /** A challenge to answer (or stop answering); resolves once every listener can. */
  challenge(change: ChallengeChange): Promise<void>;
}

export interface AcmeManagerOptions {
  readonly names: readonly string[];
  readonly settings: AcmeSettings;
  readonly challenge: 'http-01' | 'tls-alpn-01';
  readonly log: Logger;
  readonly publish: AcmePublisher;
  /** Wall clock (ms); certificates' validity is wall-clock time. */
  readonly now?: () => number;
  readonly random?: () => number;
}

interface NameState {
  /** The chain being served, as stored. */
  cert: string | undefined;
  /** When it is due for renewal. */
  due: number;
  failures: number;
  /** No order before this (back-off after failures). */
  retryAt: number;
}

/**
 * Gets and renews the certificates of ACME_DOMAINS, one per name. At start-up the stored ones
 * are served at once; then every ACME_RENEW_CHECK each name is looked at: a certificate another
 * instance stored is picked up, and one missing or due (two thirds of its lifetime, with jitter)
 * is ordered under the storage's lock, so instances sharing ACME_STORAGE order one at a time. A
 * failed order is tried again after a back-off that doubles. Runs in one process only: the one
 * that owns the listeners, or a cluster's primary.
 */
export class AcmeManager {
  readonly #options: AcmeManagerOptions;
  readonly #storage: AcmeStorage;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #states = new Map<string, NameState>();
  readonly #client: AcmeClient;
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> | undefined;
  #stopped = false;
  /** The storage's order lock while this process holds it. */
  #lock: OrderLock | undefined;
  /** Orders placed since start-up (what tests and the log count). */
  orders = 0;

  constructor(options: AcmeManagerOptions) {
    this.#options = options;
    this.#storage = new AcmeStorage(options.settings.storage!);
    this.#log = options.log;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#storage.prepare();
    // Made now: an unreadable ACME_CA_FILE stops start-up instead of failing every order.
    this.#client = new AcmeClient(options.settings, this.#storage, this.#log);
    for (const name of options.names) this.#states.set(name, { cert: undefined, due: 0, failures: 0, retryAt: 0 });
  }

  /** Serves every stored certificate now (synchronously: before the listeners accept anything). */
  loadStored(): void {
    for (const name of this.#options.names) this.#pickUp(name, 'ACME certificate loaded from storage');
  }

  /** Starts the checks: the first at once, in the background, then every ACME_RENEW_CHECK. */
  start(): void {
    this.check();
    this.#timer = setInterval(() => this.check(), this.#options.settings.renewCheck);
    this.#timer.unref();
  }

  /** One round over every name, unless one is running; resolves when the round is over. */
  check(): Promise<void> {
    this.#round ??= this.#checkAll().finally(() => { this.#round = undefined; });
    return this.#round;
  }

  /**
   * Stops the checks at once. An order in flight is abandoned (the CA lets its authorizations
   * expire) and the lock released, so another instance sharing the storage need not wait for it
   * to go stale; a shutdown never waits on the ACME server.
   */
  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#lock?.release();
    this.#lock = undefined;
  }

  async #checkAll(): Promise<void> {
    for (const name of this.#options.names) {
      if (this.#stopped) return;
      try {
        await this.#check(name);
      } catch (err) {
        this.#log.error({ name, err: (err as Error).message }, 'ACME check failed');
      }
    }
  }

  async #check(name: string): Promise<void> {
    const state = this.#states.get(name)!;
    this.#pickUp(name, 'ACME certificate picked up from storage');
    const now = this.#now();
    if ((state.cert !== undefined && now < state.due) || now < state.retryAt) return;
    const lock = this.#lock = this.#storage.lock(this.#options.settings.lockStale, now);
    if (lock === undefined) {
      this.#log.info({ name }, 'ACME: another instance is ordering (lock held): waiting for its certificate');
      return;
    }
    try {
      // Under the lock, storage again: the holder before us may have just stored this name's.
      this.#pickUp(name, 'ACME certificate picked up from storage');
      if (state.cert !== undefined && this.#now() < state.due) return;
      const renewal = state.cert !== undefined;
      this.orders++;
      this.#log.info({ name, challenge: this.#options.challenge, renewal, directory: this.#options.settings.directory }, 'ACME order started');
      const pems = await this.#client.order(name, this.#options.challenge, (change) => this.#options.publish.challenge(change));
      if (this.#stopped) return;
      this.#storage.writeCertificate(name, pems);
      this.#serve(name, pems);
      state.failures = 0;
      state.retryAt = 0;
      const v = validity(pems.cert);
      this.#log.info({ name, serial: v?.serial, notAfter: new Date(v?.notAfter ?? 0).toISOString(), renewal, orders: this.orders }, 'ACME certificate issued');
    } catch (err) {
      state.failures++;
      const wait = backoff(state.failures, this.#options.settings.renewCheck, this.#random());
      state.retryAt = this.#now() + wait;
      this.#log.error({ name, failures: state.failures, retryInMs: Math.round(wait), err: (err as Error).message }, 'ACME order failed: serving what there is, trying again later');
    } finally {
      lock.release();
      if (this.#lock === lock) this.#lock = undefined;
    }
  }

  /** Serves the stored certificate of `name` when it differs from the one served (and is not expired). */
  #pickUp(name: string, message: string): void {
    const state = this.#states.get(name)!;
    let pems: KeyPair | undefined;
    try {
      pems = this.#storage.readCertificate(name);
    } catch (err) {
      this.#log.error({ name, err: (err as Error).message }, 'ACME storage cannot be read');
      return;
    }
    if (pems === undefined || pems.cert === state.cert) return;
    const v = validity(pems.cert);
    if (v === undefined || v.notAfter <= this.#now()) {
      if (state.cert === undefined) this.#log.warn({ name, expired: v !== undefined }, 'ACME stored certificate is expired or unreadable: ordering a new one');
      return;
    }
    try {
      this.#serve(name, pems);
    } catch (err) {
      this.#log.error({ name, err: (err as Error).message }, 'ACME stored certificate does not load: ordering a new one');
      return;
    }
    this.#log.info({ name, serial: v.serial, notAfter: new Date(v.notAfter).toISOString() }, message);
  }

  #serve(name: string, pems: KeyPair): void {
    const v = validity(pems.cert);
    if (v === undefined) throw new Error(`the certificate for ${name} does not parse`);
    this.#options.publish.certificate(name, pems);
    const state = this.#states.get(name)!;
    state.cert = pems.cert;
    state.due = renewAt(v, this.#random());
  }
}
