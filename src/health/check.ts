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
 * GETs `url` once with its own deadline: 2xx and 3xx pass. Connections are kept alive between
 * rounds, so a steady check costs one request, not a handshake; a backend that restarts is
 * seen as refused on the next round.
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
      });
      await res.body.dump({ limit: 1 << 20, signal });
      return res.statusCode >= 200 && res.statusCode < 400 ? { ok: true } : { ok: false, reason: `status ${res.statusCode}` };
    } catch (err) {
      return { ok: false, reason: signal.aborted ? `timeout after ${timeoutMs}ms` : classify(err).reason };
    }
  };
}
