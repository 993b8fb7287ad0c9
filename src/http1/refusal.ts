import type { ClientRequest } from '../context/index.js';
import { framingProblem } from './framing.js';
import type { ClientLimits } from './limits.js';
import { normalizeTarget } from './request-target.js';

/** Why a request is answered by the listener instead of being forwarded. */
export interface Refusal {
  readonly status: number;
  readonly reason: string;
}

/**
 * The 4xx for a request head that must not be forwarded, if any, by the rules both engines'
 * listeners apply once their parser has accepted the head: MAX_HEADERS (431), framing that
 * llhttp lets through (400), a target that is not a path, or an absolute one (brought to
 * origin-form in place; see normalizeTarget), and a Content-Length over MAX_BODY_SIZE (413).
 * `contentLength` reads the request's first Content-Length as its engine reads headers; it is
 * called only when there is a MAX_BODY_SIZE (a fixed function: nothing is made per request).
 * The version (see versionProblem) is each listener's first check, and what its own parser
 * leaves (CONNECT, a missing Host, for the fast engine) comes before this.
 */
export function headRefusal<R extends ClientRequest>(req: R, limits: ClientLimits, contentLength: (req: R) => string | undefined): Refusal | undefined {
  const raw = req.rawHeaders;
  if (raw.length > limits.maxHeaders * 2) return { status: 431, reason: `more than ${limits.maxHeaders} headers` };
  const problem = framingProblem(raw) ?? normalizeTarget(req);
  if (problem !== undefined) return { status: 400, reason: problem };
  const max = limits.maxBodySize;
  if (max > 0) {
    const length = contentLength(req);
    if (length !== undefined && Number(length) > max) return { status: 413, reason: `body larger than ${max} bytes` };
  }
  return undefined;
}
