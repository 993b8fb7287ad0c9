import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseDuration } from '../config/duration.js';
import { redact } from '../config/redact.js';
import { InvalidBackend } from '../pool/index.js';
import { MAX_WEIGHT } from '../pool/backend-spec.js';
import type { CanarySpec } from './canary.js';

/** Largest request body the admin API reads. */
export const MAX_ADMIN_BODY = 64 * 1024;

/** An API refusal: its status, a stable code and a message for people. */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

/** A weight in a request body: what the pool accepts, said with the field's name. */
export function checkWeight(value: unknown): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_WEIGHT) {
    throw invalid('weight', value, `an integer from 1 to ${MAX_WEIGHT}`);
  }
}

/** A JSON answer. */
export function send(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function notAllowed(method: string, path: string, allowed: string): ApiError {
  return new ApiError(405, 'method_not_allowed', `${method} ${path}: use ${allowed}`);
}

export function invalid(field: string, value: unknown, expected: string): ApiError {
  return new ApiError(400, 'invalid_value', `invalid ${field} ${JSON.stringify(redact(value)) ?? 'undefined'}: expected ${expected}`);
}

/** The pool's refusal of `field`'s value, said with the field's name and the value redacted. */
export function asApiError(err: unknown, field: string): ApiError {
  if (err instanceof InvalidBackend) {
    // The pool names the whole input when the URL is wrong; the field's own value says more.
    const part = typeof err.part === 'object' && err.part !== null && field in err.part ? (err.part as Record<string, unknown>)[field] : err.part;
    const message = `invalid ${field}${part === undefined ? '' : ` ${JSON.stringify(redact(part))}`}: expected ${err.expected}`;
    // A URL or id already in the pool is a conflict with its state, not a malformed request.
    return err.expected.startsWith('each backend') ? new ApiError(409, 'conflict', message) : new ApiError(400, 'invalid_value', message);
  }
  throw err;
}

/** `{ "share": 0.05 | "5%", "duration": "5m" }`. */
export function canarySpec(value: unknown): CanarySpec {
  const expected = 'an object { "share": 0.05 or "5%", "duration": "5m" }';
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('canary', value, expected);
  const { share, duration, ...rest } = value as Record<string, unknown>;
  if (Object.keys(rest).length > 0) throw invalid('canary', value, expected);
  const fraction = typeof share === 'number' ? share : typeof share === 'string' && /^\d+(\.\d+)?%$/.test(share.trim()) ? Number(share.trim().slice(0, -1)) / 100 : NaN;
  if (!(fraction > 0 && fraction <= 1)) throw invalid('canary.share', share, 'a share of traffic above 0 and at most 1 (or 100%)');
  let ms: number;
  try {
    ms = typeof duration === 'string' ? parseDuration(duration) ?? NaN : NaN;
  } catch {
    ms = NaN;
  }
  if (!(ms > 0)) throw invalid('canary.duration', duration, 'a positive duration such as "5m" or "30s"');
  return { share: fraction, duration: ms };
}

/** The fields of a JSON object body, refusing any other. */
export function object(body: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('body', body, 'a JSON object');
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) throw new ApiError(400, 'unknown_field', `unknown field ${JSON.stringify(key)}: expected one of ${allowed.join(', ')}`);
  }
  return body as Record<string, unknown>;
}

/** The body as JSON, whatever Content-Type says (`curl -d` sends a form type by default). */
export async function readJson(req: IncomingMessage): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_ADMIN_BODY) throw new ApiError(413, 'body_too_large', `the body is larger than ${MAX_ADMIN_BODY} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_ADMIN_BODY) throw new ApiError(413, 'body_too_large', `the body is larger than ${MAX_ADMIN_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new ApiError(400, 'invalid_json', `the body is not JSON: ${(err as Error).message}`);
  }
}

