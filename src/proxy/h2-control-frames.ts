import type { Http2Session } from 'node:http2';

/** PING and SETTINGS frames a peer may send in a burst. */
export const CONTROL_BURST = 1000;
/** PING and SETTINGS frames a second a peer may send in the long run. */
export const CONTROL_RATE = 100;

/**
 * A token bucket for the frames a peer can make us answer without opening a stream: each PING
 * and each SETTINGS asks for an ACK (RFC 9113 §6.5.3, §6.7). nghttp2 bounds only the ACKs that
 * wait unsent (1,000), so a peer that reads them as fast as it asks costs a core without limit
 * (CVE-2019-9512, CVE-2019-9515). Each stream the peer opens earns a token back: gRPC's
 * BDP probes send one PING per response or so. The clock is injected for tests.
 */
export class ControlFrameBudget {
  readonly #burst: number;
  readonly #rate: number;
  readonly #now: () => number;
  #tokens: number;
  #at: number;

  constructor(now: () => number = () => performance.now(), burst = CONTROL_BURST, rate = CONTROL_RATE) {
    this.#now = now;
    this.#burst = burst;
    this.#rate = rate;
    this.#tokens = burst;
    this.#at = now();
  }

  /** Takes one frame's token; false when none is left (the peer floods). */
  take(): boolean {
    const now = this.#now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#at) * this.#rate) / 1000);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** One token back (up to the burst): the peer opened a stream, real work. */
  earn(): void {
    if (this.#tokens < this.#burst) this.#tokens = Math.min(this.#burst, this.#tokens + 1);
  }
}

/**
 * Counts the PING and SETTINGS frames `session`'s peer sends while `idle()` (no stream open)
 * against a ControlFrameBudget, and calls `onFlood` once, with the number of such frames so
 * far, when the budget is spent; the caller closes the session (ENHANCE_YOUR_CALM). While
 * streams are open, those frames are free: gRPC clients probe the bandwidth with a PING per
 * burst of DATA, and a peer with a stream open could as well send requests, which cost more;
 * as nginx, HAProxy and Envoy do, such a peer is bounded by its bandwidth and by nghttp2's
 * bound on ACKs it does not read. Returns the budget, for the caller to `earn()` into.
 */
export function limitControlFrames(session: Http2Session, idle: () => boolean, onFlood: (frames: number) => void): ControlFrameBudget {
  const budget = new ControlFrameBudget();
  let frames = 0;
  let flooded = false;
  const count = (): void => {
    frames++;
    if (flooded || !idle() || budget.take()) return;
    flooded = true;
    onFlood(frames);
  };
  session.on('ping', count);
  session.on('remoteSettings', count);
  return budget;
}
