import { connect, type ClientHttp2Session, type Settings } from 'node:http2';
import { tlsConnectOptions, type BackendTls } from '../pool/index.js';
import { ProxyError } from '../errors/index.js';
import type { H2Stream } from './h2-stream.js';
import { guardBackendSession, H2_CLIENT_OPTIONS } from './h2-client-options.js';

/** What every session of a transport is made with. */
export interface H2SessionOptions {
  /** Time allowed to open the connection and exchange the prefaces (CONNECT_TIMEOUT), ms. */
  readonly connectTimeout: number;
  /** A session without streams for this long closes (HTTP_IDLE_CONN_TIMEOUT), ms. */
  readonly idleTimeout: number;
  /** An idle session is PINGed this often, and closed when no answer comes within `connectTimeout`, ms. */
  readonly pingInterval: number;
  readonly tls: BackendTls | undefined;
}

/**
 * Streams a session is given before the backend's SETTINGS say how many it allows: RFC 9113
 * section 6.5.2 leaves the initial value unlimited and recommends no less than 100.
 */
const ASSUMED_MAX_STREAMS = 100;

/** A session that its owner (the backend's set of sessions) forgets when it closes. */
export interface SessionOwner {
  forget(session: H2Session): void;
}

/**
 * One HTTP/2 connection to a backend (h2c with prior knowledge, or h2 over TLS by ALPN) and
 * the streams it carries, at most as many as the backend's SETTINGS_MAX_CONCURRENT_STREAMS.
 * Streams asked for before the connection is up wait for it (so a connect failure finds them
 * unsent, and retryable anywhere). A GOAWAY takes it out of use, and fails the streams the
 * backend says it did not process with an error that may be retried. Idle, it is PINGed, and
 * closed after `idleTimeout`.
 */
export class H2Session {
  readonly session: ClientHttp2Session;
  /** No new stream may start on it: closing, closed, or told to go away. */
  closing = false;
  /** The backend's SETTINGS_MAX_CONCURRENT_STREAMS. */
  maxStreams = ASSUMED_MAX_STREAMS;
  /** Streams it carries or will carry once connected. */
  readonly streams = new Set<H2Stream>();
  #connected = false;
  #pending: H2Stream[] = [];
  readonly #owner: SessionOwner;
  readonly #options: H2SessionOptions;
  #timer: NodeJS.Timeout;
  #idleSince = 0;
  #pinging = false;

  constructor(origin: string, owner: SessionOwner, options: H2SessionOptions) {
    this.#owner = owner;
    this.#options = options;
    const tls = origin.startsWith('https:') ? { ...tlsConnectOptions(options.tls), ALPNProtocols: ['h2'] } : {};
    this.session = connect(origin, { ...H2_CLIENT_OPTIONS, ...tls });
    guardBackendSession(this.session, () => this.streams.size === 0);
    this.session.on('connect', this.#onConnect);
    this.session.on('remoteSettings', this.#onSettings);
    this.session.on('goaway', this.#onGoaway);
    this.session.on('error', this.#onError);
    this.session.on('close', this.#onClose);
    this.#timer = setTimeout(this.#onConnectTimeout, options.connectTimeout);
    this.#timer.unref();
  }

  /** It can take one more stream now. */
  get hasRoom(): boolean {
    return !this.closing && this.streams.size < this.maxStreams;
  }

  /** Starts `stream` on this session: now when connected, else once it is. */
  add(stream: H2Stream): void {
    this.streams.add(stream);
    if (this.#idleSince !== 0) {
      this.#idleSince = 0;
      clearTimeout(this.#timer);
    }
    if (this.#connected) stream.start(this.session);
    else this.#pending.push(stream);
  }

  /** `stream` is over (ended, failed or reset): when it was the last, the session is idle from now. */
  release(stream: H2Stream): void {
    if (!this.streams.delete(stream) || this.streams.size > 0 || this.session.destroyed) return;
    if (this.closing) {
      this.session.close();
      return;
    }
    this.#idleSince = performance.now();
    this.#timer = setTimeout(this.#onIdleTick, Math.min(this.#options.pingInterval, this.#options.idleTimeout));
    this.#timer.unref();
  }

  /** Closes the session once its streams are done (`cut`: at once, failing them with it). */
  close(cut?: Error): void {
    this.#retire();
    if (cut === undefined) {
      if (this.streams.size === 0) this.session.close();
      return;
    }
    for (const stream of [...this.streams]) stream.lost(cut);
    this.session.destroy();
  }

  readonly #onConnect = (): void => {
    clearTimeout(this.#timer);
    this.#connected = true;
    const pending = this.#pending;
    this.#pending = [];
    for (const stream of pending) stream.start(this.session);
  };

  readonly #onSettings = (settings: Settings): void => {
    this.maxStreams = settings.maxConcurrentStreams ?? Number.POSITIVE_INFINITY;
  };

  /**
   * The backend goes away (RFC 9113 section 6.8): nothing new starts here, streams up to
   * `lastStreamId` may finish, and those above it, which it did not process, fail retryably.
   */
  readonly #onGoaway = (_code: number, lastStreamId: number): void => {
    this.#retire();
    for (const stream of [...this.streams]) if (stream.id === undefined || stream.id > lastStreamId) stream.refused('GOAWAY');
  };

  readonly #onError = (err: Error): void => {
    this.#retire();
    this.#failPending(err);
  };

  readonly #onClose = (): void => {
    clearTimeout(this.#timer);
    this.#retire();
    this.#failPending(new ProxyError('LB_ERR_UPSTREAM_RESET', 'backend connection closed'));
    // A stream still here had no close of its own (node:http2 gives one to every stream it opened).
    for (const stream of [...this.streams]) stream.lost(new ProxyError('LB_ERR_UPSTREAM_RESET', 'backend connection closed'));
  };

  readonly #onConnectTimeout = (): void => {
    this.session.destroy(new ProxyError('LB_ERR_UPSTREAM_TIMEOUT', `connect timeout (${this.#options.connectTimeout}ms)`));
  };

  /** While idle: closed after `idleTimeout`, PINGed before (a backend that does not answer is gone). */
  readonly #onIdleTick = (): void => {
    if (this.#idleSince === 0 || this.session.destroyed) return;
    const idleFor = performance.now() - this.#idleSince;
    if (idleFor >= this.#options.idleTimeout) {
      this.#retire();
      this.session.close();
      return;
    }
    if (!this.#pinging) {
      this.#pinging = true;
      const answered = this.session.ping((err) => {
        this.#pinging = false;
        clearTimeout(deadline);
        if (err !== null && !this.session.destroyed) this.session.destroy(err);
      });
      const deadline = setTimeout(() => { if (this.#pinging) this.session.destroy(new ProxyError('LB_ERR_UPSTREAM_TIMEOUT', 'backend did not answer a PING')); }, this.#options.connectTimeout);
      deadline.unref();
      if (!answered) {
        this.#pinging = false;
        clearTimeout(deadline);
      }
    }
    this.#timer = setTimeout(this.#onIdleTick, Math.min(this.#options.pingInterval, this.#options.idleTimeout - idleFor));
    this.#timer.unref();
  };

  /** Out of use for new streams, and out of its backend's list (once). */
  #retire(): void {
    if (this.#retired) return;
    this.#retired = true;
    this.closing = true;
    this.#owner.forget(this);
  }

  #retired = false;

  #failPending(err: Error): void {
    const pending = this.#pending;
    this.#pending = [];
    for (const stream of pending) stream.lost(err);
  }
}
