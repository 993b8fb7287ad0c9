import { Agent, request } from 'undici';
import { classify } from '../proxy/index.js';

/** The outcome of one health check. */
export interface CheckResult {
  readonly ok: boolean;
  /** Why it failed: `status 503`, `timeout after 1s`, `connection refused`, ... */
  readonly reason?: string;
}

export type CheckFn = (url: string, timeoutMs: number) => Promise<CheckResult>;

const USER_AGENT = 'load-balancer-health-check';

/**
 * GETs `url` once with its own deadline, on a new connection: 2xx and 3xx pass. A check costs a
 * handshake, as HAProxy's do, and sees what a new request would see.
 */
export function httpCheck(dispatcher: Agent): CheckFn {
  return async (url, timeoutMs) => {
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const res = await request(url, {
        method: 'GET',
        dispatcher,
        signal,
        headers: { 'user-agent': USER_AGENT, accept: '*/*' },
        headersTimeout: 0,
        bodyTimeout: 0,
        // A connection of its own each time: a backend that has closed its listener but still
        // answers on connections it already has must fail its check.
        reset: true,
      });
      await res.body.dump({ limit: 1 << 20, signal });
      return res.statusCode >= 200 && res.statusCode < 400 ? { ok: true } : { ok: false, reason: `status ${res.statusCode}` };
    } catch (err) {
      return { ok: false, reason: signal.aborted ? `timeout after ${timeoutMs}ms` : classify(err).reason };
    }
  };
}
