import type { TLSSocket } from 'node:tls';
import type { Backend } from '../pool/index.js';
import { ASSUMED_MAX_STREAMS, H2Session, type H2SessionOptions, type SessionOwner } from './h2-session.js';
import type { H2Stream } from './h2-stream.js';
import type { ConnectionStats } from './transport.js';

/**
 * The HTTP/2 sessions of one backend. A stream goes to the least loaded session with room; when
 * every one is at the backend's SETTINGS_MAX_CONCURRENT_STREAMS, another opens, up to `cap`
 * sessions (beyond, the least loaded takes it anyway and node:http2 holds it until one of its
 * streams ends). Sessions the load no longer needs go idle and close after the idle timeout.
 */
export class H2Sessions implements SessionOwner {
  /** Sessions that take new streams, oldest first. */
  readonly sessions: H2Session[] = [];
  readonly #backend: Backend;
  readonly #options: H2SessionOptions;
  readonly #cap: number;
  /** What the backend's latest SETTINGS said: a new session assumes it until its own come. */
  #maxStreams = ASSUMED_MAX_STREAMS;
  /** Sessions out of use that still finish their streams. */
  readonly #closing = new Set<H2Session>();
  /** Told when a session could not be made (an `auto` backend then learns its protocol again). */
  readonly #onBroken: ((backend: Backend) => void) | undefined;

  constructor(backend: Backend, options: H2SessionOptions, cap: number, onBroken?: (backend: Backend) => void) {
    this.#backend = backend;
    this.#options = options;
    this.#cap = Math.max(1, cap);
    this.#onBroken = onBroken;
  }

  /** A session for one more stream: the least loaded with room, else a new one (within the cap). */
  take(): H2Session {
    let best: H2Session | undefined;
    let least: H2Session | undefined;
    for (const session of this.sessions) {
      const load = session.streams.size;
      if (session.hasRoom && (best === undefined || load < best.streams.size)) best = session;
      if (least === undefined || load < least.streams.size) least = session;
    }
    if (best !== undefined) return best;
    if (least !== undefined && this.sessions.length >= this.#cap) return least;
    return this.open(undefined);
  }

  /** A new session, over `socket` when one is given (a TLS connection on which ALPN chose h2). */
  open(socket: TLSSocket | undefined): H2Session {
    const session = new H2Session(this.#backend.origin, this, this.#options, socket, this.#maxStreams);
    this.sessions.push(session);
    return session;
  }

  place(stream: H2Stream): void {
    this.take().add(stream);
  }

  learned(maxStreams: number): void {
    this.#maxStreams = maxStreams;
  }

  broken(_session: H2Session, _err: Error): void {
    this.#onBroken?.(this.#backend);
  }

  forget(session: H2Session): void {
    const i = this.sessions.indexOf(session);
    if (i >= 0) this.sessions.splice(i, 1);
    // A destroyed session is gone (its close is under way): nothing to wait for.
    if (session.session.destroyed) return;
    this.#closing.add(session);
    session.session.once('close', () => this.#closing.delete(session));
  }

  get stats(): ConnectionStats {
    let busy = 0;
    let open = 0;
    for (const set of [this.sessions, this.#closing]) {
      for (const session of set) {
        if (session.session.destroyed) continue;
        open++;
        if (session.streams.size > 0) busy++;
      }
    }
    return { open, busy, idle: open - busy };
  }

  close(cut?: Error): void {
    for (const session of [...this.sessions, ...this.#closing]) session.close(cut);
  }

  /** Resolves once every session has closed. */
  async closed(): Promise<void> {
    await Promise.all([...this.sessions, ...this.#closing].map((s) => s.session.closed ? undefined : new Promise((resolve) => s.session.once('close', resolve))));
  }
}
