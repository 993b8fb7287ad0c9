import { connect, type ClientHttp2Session, type Settings } from 'node:http2';
import type { Socket } from 'node:net';
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
  /**
   * A session from which nothing has been heard for this long is PINGed (idle or carrying
   * streams), and destroyed when the answer does not come within `connectTimeout`, ms.
   */
  readonly pingInterval: number;
  readonly tls: BackendTls | undefined;
}

/**
 * Streams a session is given before the backend's SETTINGS say how many it allows: RFC 9113
 * section 6.5.2 leaves the initial value unlimited and recommends no less than 100.
 */
export const ASSUMED_MAX_STREAMS = 100;

/** The backend's set of sessions, as one of them sees it. */
export interface SessionOwner {
  /** `session` takes no new stream any more (closing, closed or told to go away). */
  forget(session: H2Session): void;
  /** A stream `session` had no room for once the backend's SETTINGS came: it goes to another session. */
  place(stream: H2Stream): void;
  /** The backend's SETTINGS_MAX_CONCURRENT_STREAMS, as its latest SETTINGS say. */
  learned(maxStreams: number): void;
  /** `session` failed before it could carry a stream (the connection could not be made). */
  broken(session: H2Session, err: Error): void;
}

/** The session is destroyed with this when a PING goes unanswered: its streams fail as a reset would fail them. */
function unanswered(ms: number): ProxyError {
  return new ProxyError('LB_ERR_UPSTREAM_RESET', `backend did not answer a PING within ${ms}ms`);
}

/**
 * One HTTP/2 connection to a backend (h2c with prior knowledge, or h2 over TLS by ALPN) and
 * the streams it carries, at most as many as the backend's SETTINGS_MAX_CONCURRENT_STREAMS.
 * Streams asked for before the backend's SETTINGS have come wait for them (so a connect failure
 * finds them unsent, and retryable anywhere; and those beyond its limit go to another session).
 * A GOAWAY takes it out of use, and fails the streams the backend says it did not process with
 * an error that may be retried. One timer keeps its time: the connect timeout, then a look every
 * `pingInterval` at whether anything came from the backend since the last look (a PING when
 * nothing did, the session destroyed when that goes unanswered), and the idle timeout.
 */
export class H2Session {
  readonly session: ClientHttp2Session;
  /** No new stream may start on it: closing, closed, or told to go away. */
  closing = false;
  /** The backend's SETTINGS_MAX_CONCURRENT_STREAMS (what its other sessions said, until its own SETTINGS come). */
  maxStreams: number;
  /** Streams it carries or will carry once the backend's SETTINGS have come. */
  readonly streams = new Set<H2Stream>();
  #ready = false;
  #pending: H2Stream[] = [];
  readonly #owner: SessionOwner;
  readonly #options: H2SessionOptions;
  #timer: NodeJS.Timeout;
  /** When its last stream ended (0: it carries streams). */
  #idleSince = 0;
  #pinging = false;
  /** The socket's bytesRead at the last look: unchanged means nothing came from the backend since. */
  #heard = 0;
  #retired = false;

  /**
   * Connects to `origin`, or speaks over `socket` when given (a TLS connection on which ALPN
   * chose h2). `maxStreams` is what the backend's SETTINGS said last, on another session.
   */
  constructor(origin: string, owner: SessionOwner, options: H2SessionOptions, socket?: Socket, maxStreams = ASSUMED_MAX_STREAMS) {
    this.#owner = owner;
    this.#options = options;
    this.maxStreams = maxStreams;
    const connectOptions = socket !== undefined ? { ...H2_CLIENT_OPTIONS, createConnection: () => socket }
      : origin.startsWith('https:') ? { ...H2_CLIENT_OPTIONS, ...tlsConnectOptions(options.tls), ALPNProtocols: ['h2'] } : H2_CLIENT_OPTIONS;
    this.session = connect(origin, connectOptions);
    guardBackendSession(this.session, () => this.streams.size === 0);
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

  /** Starts `stream` on this session: now when the backend's SETTINGS have come, else once they do. */
  add(stream: H2Stream): void {
    this.streams.add(stream);
    stream.session = this;
    this.#idleSince = 0;
    if (this.#ready) stream.start(this.session);
    else this.#pending.push(stream);
  }

  /** `stream` is over (ended, failed or reset): when it was the last, the session is idle from now. */
  release(stream: H2Stream): void {
    if (!this.streams.delete(stream)) return;
    if (!this.#ready) {
      const i = this.#pending.indexOf(stream);
      if (i >= 0) this.#pending.splice(i, 1);
    }
    if (this.streams.size > 0 || this.session.destroyed) return;
    if (this.closing) {
      this.session.close();
      return;
    }
    this.#idleSince = performance.now();
    // Closed after idleTimeout, whatever is left of the PING interval.
    if (this.#ready && !this.#pinging) this.#schedule(Math.min(this.#options.pingInterval, this.#options.idleTimeout));
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

  /**
   * The backend's SETTINGS: the first ones make the session ready. Waiting streams start, as
   * many as the backend allows at once; the rest go to another session.
   */
  readonly #onSettings = (settings: Settings): void => {
    this.maxStreams = settings.maxConcurrentStreams ?? Number.POSITIVE_INFINITY;
    this.#owner.learned(this.maxStreams);
    if (this.#ready) return;
    this.#ready = true;
    this.#heard = this.#bytesRead();
    const pending = this.#pending;
    this.#pending = [];
    let started = 0;
    for (const stream of pending) {
      if (started < this.maxStreams || this.closing) {
        started++;
        stream.start(this.session);
      } else {
        this.streams.delete(stream);
        this.#owner.place(stream);
      }
    }
    if (this.streams.size === 0 && this.#idleSince === 0) this.#idleSince = performance.now();
    this.#schedule(this.streams.size === 0 ? Math.min(this.#options.pingInterval, this.#options.idleTimeout) : this.#options.pingInterval);
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
    if (!this.#ready) this.#owner.broken(this, err);
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

  /**
   * The session's one timer, once ready: a PING that went unanswered destroys the session (its
   * streams fail with it); an idle session past `idleTimeout` closes; and a session from which
   * nothing has come since the last look is PINGed.
   */
  readonly #onTick = (): void => {
    const session = this.session;
    if (session.destroyed) return;
    const options = this.#options;
    if (this.#pinging) {
      session.destroy(unanswered(options.connectTimeout));
      return;
    }
    let next = options.pingInterval;
    if (this.#idleSince !== 0) {
      const idleFor = performance.now() - this.#idleSince;
      if (idleFor >= options.idleTimeout) {
        this.#retire();
        session.close();
        return;
      }
      next = Math.min(next, options.idleTimeout - idleFor);
    }
    const read = this.#bytesRead();
    if (read !== this.#heard) {
      this.#heard = read;
      this.#schedule(next);
      return;
    }
    // Nothing heard for a whole interval: is the backend still there?
    if (session.ping(this.#onPong)) {
      this.#pinging = true;
      this.#schedule(options.connectTimeout);
    } else {
      this.#schedule(next);
    }
  };

  readonly #onPong = (err: Error | null): void => {
    if (!this.#pinging) return;
    this.#pinging = false;
    const session = this.session;
    if (session.destroyed) return;
    if (err !== null) {
      session.destroy(err);
      return;
    }
    this.#heard = this.#bytesRead();
    const options = this.#options;
    const next = this.#idleSince === 0 ? options.pingInterval
      : Math.max(0, Math.min(options.pingInterval, options.idleTimeout - (performance.now() - this.#idleSince)));
    this.#schedule(next);
  };

  #schedule(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(this.#onTick, ms);
    this.#timer.unref();
  }

  /** Bytes read from the backend so far (whatever frames they were). */
  #bytesRead(): number {
    return this.session.destroyed ? this.#heard : this.session.socket.bytesRead;
  }

  /** Out of use for new streams, and out of its backend's list (once). */
  #retire(): void {
    if (this.#retired) return;
    this.#retired = true;
    this.closing = true;
    this.#owner.forget(this);
  }

  #failPending(err: Error): void {
    const pending = this.#pending;
    this.#pending = [];
    for (const stream of pending) stream.lost(err);
  }
}
