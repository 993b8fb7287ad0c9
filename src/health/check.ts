import { Agent, request } from 'undici';
import { classify } from '../errors/index.js';

/** The outcome of one health check. */
export interface CheckResult {
  readonly ok: boolean;
  /** Why it failed: `status 503`, `timeout after 1s`, `connection refused`, ... */
  readonly reason?: string;
  /** It passed with a warning (`application/health+json` status `warn`): what the backend said. */
  readonly warning?: string;
}

/** The most of an `application/health+json` body read; the rest is not waited for. */
const HEALTH_JSON_LIMIT = 64 * 1024;

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
      const passed = res.statusCode >= 200 && res.statusCode < 400;
      if (/^application\/health\+json\b/i.test(String(res.headers['content-type'] ?? ''))) {
        return semantic(passed, res.statusCode, await readLimited(res.body, HEALTH_JSON_LIMIT));
      }
      await res.body.dump({ limit: 1 << 20, signal });
      return passed ? { ok: true } : { ok: false, reason: `status ${res.statusCode}` };
    } catch (err) {
      return { ok: false, reason: signal.aborted ? `timeout after ${timeoutMs}ms` : classify(err).reason };
    }
  };
}

/**
 * The verdict of an `application/health+json` response (draft-inadmissible-rest-api-health-check):
 * `pass` (or `ok`, `up`) passes, `warn` passes with a warning, `fail` (or `error`, `down`) fails,
 * whatever the HTTP status says; the status must still be 2xx-3xx for a pass. Anything else in
 * such a body is a failure: a backend that speaks the format and says nothing clear is not well.
 */
export function semantic(passed: boolean, statusCode: number, text: string): CheckResult {
  let body: { status?: unknown; output?: unknown; notes?: unknown };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    return { ok: false, reason: 'invalid application/health+json (not JSON)' };
  }
  const status = typeof body?.status === 'string' ? body.status.toLowerCase() : undefined;
  const said = typeof body.output === 'string' && body.output !== '' ? `: ${body.output.slice(0, 200)}` : '';
  if (status === 'fail' || status === 'error' || status === 'down') return { ok: false, reason: `health status ${status}${said}` };
  if (status !== 'pass' && status !== 'ok' && status !== 'up' && status !== 'warn') {
    return { ok: false, reason: `invalid application/health+json (status ${JSON.stringify(body?.status ?? null)})` };
  }
  if (!passed) return { ok: false, reason: `status ${statusCode}` };
  return status === 'warn' ? { ok: true, warning: `health status warn${said}` } : { ok: true };
}

async function readLimited(body: AsyncIterable<Buffer> & { destroy(): unknown }, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= limit) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}
