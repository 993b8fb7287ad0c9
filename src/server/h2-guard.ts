import { constants, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { Logger } from 'pino';
import { limitControlFrames, type ControlFrameBudget } from '../proxy/index.js';
import { SessionClosed, withTrueGoawayCodes } from './h2-session-close.js';

/** Client resets a session is allowed whatever its other streams did. */
const MIN_RESETS = 100;

const GUARD = Symbol('h2 session guard');

type Guarded = ServerHttp2Session & { [GUARD]?: SessionGuard };

/**
 * What one client's HTTP/2 session is allowed beyond nghttp2's own limits: it is closed with
 * GOAWAY (ENHANCE_YOUR_CALM) when it
 *
 * - resets streams faster than it lets them complete (rapid reset, CVE-2023-44487): once it has
 *   reset `2 × H2_MAX_CONCURRENT_STREAMS` streams (at least 100) before their response ended,
 *   more than half of all its streams. Each stream is a backend request, so what nghttp2 allows
 *   (a burst of 1,000 resets, then 33 a second) is a lot of backend work. A client that cancels
 *   all it has in flight, twice, stays under it;
 * - sends PING or SETTINGS frames, while it has no stream open, faster than a ControlFrameBudget
 *   allows (each stream it opens earns one back).
 *
 * Each session it closes, and each that node closes on an nghttp2 error, is logged once.
 */
class SessionGuard {
  readonly #session: ServerHttp2Session;
  readonly #maxResets: number;
  readonly #budget: ControlFrameBudget;
  #streams = 0;
  #open = 0;
  #resets = 0;

  constructor(session: ServerHttp2Session, maxConcurrentStreams: number, log: Logger) {
    this.#session = session;
    this.#maxResets = Math.max(MIN_RESETS, 2 * maxConcurrentStreams);
    session.on('stream', this.#onStream);
    this.#budget = limitControlFrames(session, () => this.#open === 0, (frames) => this.#close('PING/SETTINGS flood', { frames }));
    withTrueGoawayCodes(session, log);
  }

  readonly #onStream = (stream: ServerHttp2Stream): void => {
    this.#streams++;
    this.#open++;
    this.#budget.earn();
    stream.on('aborted', onAborted);
    stream.on('close', this.#onStreamClose);
  };

  readonly #onStreamClose = (): void => {
    this.#open--;
  };

  /** A stream of this session was reset by its client before its response ended. */
  reset(): void {
    this.#resets++;
    if (this.#resets >= this.#maxResets && this.#resets * 2 > this.#streams) {
      this.#close('rapid reset', { resets: this.#resets, streams: this.#streams });
    }
  }

  #close(reason: string, counts: Record<string, number>): void {
    if (this.#session.destroyed) return;
    // GOAWAY with this code, then the socket ends; the session's streams are cut (their backend requests aborted).
    this.#session.destroy(new SessionClosed(reason, counts), constants.NGHTTP2_ENHANCE_YOUR_CALM);
  }
}

/**
 * A stream's 'aborted': its response had not ended. Reset by the client when the stream is not
 * destroyed yet: node destroys a stream before it aborts it when the balancer resets it or the
 * whole session goes, and aborts first when an RST_STREAM arrives.
 */
function onAborted(this: ServerHttp2Stream): void {
  if (this.destroyed) return;
  (this.session as Guarded | undefined)?.[GUARD]?.reset();
}

/** Puts `session` under a SessionGuard (see there) for as long as it lives. */
export function guardSession(session: ServerHttp2Session, maxConcurrentStreams: number, log: Logger): void {
  (session as Guarded)[GUARD] = new SessionGuard(session, maxConcurrentStreams, log);
}
