import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import pino from 'pino';
import { RequestContext, type ClientRequest, type ClientResponse } from '../context/index.js';
import { parseRate } from './rate.js';
import { RateLimiter, type RateLimitCounts } from './rate-limiter.js';
import type { RateLimitSpec } from './spec.js';

/** What a response was given: status, headers set, body ended with. */
interface Sent { status: number; headers: Map<string, string>; ended: boolean }

function request(headers: Record<string, string> = {}, address = '10.0.0.1'): { ctx: RequestContext; sent: Sent } {
  const sent: Sent = { status: 200, headers: new Map(), ended: false };
  const req: ClientRequest = {
    method: 'GET', url: '/', headers, rawHeaders: Object.entries(headers).flat(), httpVersionMajor: 1, complete: true,
    socket: { remoteAddress: address } as Socket,
  };
  const res: ClientResponse = {
    get statusCode() { return sent.status; },
    set statusCode(s: number) { sent.status = s; },
    headersSent: false,
    shouldKeepAlive: true,
    setHeader(name, value) { sent.headers.set(name, String(value)); },
    appendHeader(name, value) { sent.headers.set(name, value); },
    end() { sent.ended = true; },
    destroy() {},
  };
  return { ctx: new RequestContext(req, res, pino({ level: 'silent' }), 'http'), sent };
}

function limiter(spec: Partial<RateLimitSpec>, now: () => number, lines: Record<string, unknown>[] = []): { limiter: RateLimiter; counts: RateLimitCounts } {
  const counts: RateLimitCounts = { refused: new Map(), shadow: new Map() };
  const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  const full: RateLimitSpec = { rate: parseRate('10/s'), burst: 2, key: 'ip', mode: 'enforce', tableSize: 100, ...spec };
  return { limiter: new RateLimiter(full, 'default', counts, log, now), counts };
}

test('admitted requests carry RateLimit (what is left, seconds until the burst is back); refused ones 429 with Retry-After and the policy', () => {
  let time = 0;
  const { limiter: l, counts } = limiter({}, () => time);
  const a = request();
  assert.equal(l.admit(a.ctx, 'r'), true);
  assert.deepEqual(a.ctx.responseHeaders, ['ratelimit', '"default";r=1;t=1']);
  const b = request();
  assert.equal(l.admit(b.ctx, 'r'), true);
  assert.deepEqual(b.ctx.responseHeaders, ['ratelimit', '"default";r=0;t=1']);
  const c = request();
  assert.equal(l.admit(c.ctx, 'r'), false);
  assert.equal(c.sent.status, 429);
  assert.equal(c.sent.ended, true);
  assert.equal(c.sent.headers.get('retry-after'), '1', '100 ms, rounded up to a second');
  assert.equal(c.sent.headers.get('ratelimit-policy'), '"default";q=2;w=1');
  assert.equal(c.sent.headers.get('ratelimit'), '"default";r=0;t=1');
  assert.equal(c.ctx.error?.code, 'LB_ERR_RATE_LIMITED');
  assert.equal(c.ctx.policy, 'rate-limit');
  assert.deepEqual([...counts.refused], [['r', 1]]);
  time = 100;
  assert.equal(l.admit(request().ctx, 'r'), true, 'one interval later');
  assert.equal(l.admit(request({}, '10.0.0.2').ctx, 'r'), true, 'another address has its own count');
});

test('shadow mode admits everything without headers, counts what it would refuse, and logs it at most once a second', () => {
  let time = 0;
  const lines: Record<string, unknown>[] = [];
  const { limiter: l, counts } = limiter({ mode: 'shadow', burst: 1 }, () => time, lines);
  for (let i = 0; i < 11; i++) {
    const r = request();
    assert.equal(l.admit(r.ctx, ''), true);
    assert.equal(r.ctx.responseHeaders, undefined);
  }
  assert.deepEqual([...counts.shadow], [['', 10]]);
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!.key, '10.0.0.1');
  time = 1000;
  for (let i = 0; i < 12; i++) l.admit(request().ctx, '');
  assert.equal(lines.length, 2);
  assert.equal(lines[1]!.alsoOverSinceLastLine, 9, 'the refusals not logged since the last line');
  assert.equal(counts.refused.size, 0);
});

test('keys from a header (its first value) or a cookie; without one, requests share the empty key', () => {
  const time = 0;
  const { limiter: byHeader } = limiter({ key: 'header:x-key', burst: 1 }, () => time);
  assert.equal(byHeader.admit(request({ 'x-key': 'a' }).ctx, ''), true);
  assert.equal(byHeader.admit(request({ 'x-key': 'a' }, '10.9.9.9').ctx, ''), false, 'the same key from another address');
  assert.equal(byHeader.admit(request({ 'x-key': 'b' }).ctx, ''), true);
  assert.equal(byHeader.admit(request().ctx, ''), true);
  assert.equal(byHeader.admit(request().ctx, ''), false, 'no header: one shared count');
  const { limiter: byCookie } = limiter({ key: 'cookie:sid', burst: 1 }, () => time);
  assert.equal(byCookie.admit(request({ cookie: 'a=1; sid=x; b=2' }).ctx, ''), true);
  assert.equal(byCookie.admit(request({ cookie: 'sid=x' }).ctx, ''), false);
  assert.equal(byCookie.admit(request({ cookie: 'sid=y' }).ctx, ''), true);
  const { limiter: byRoute } = limiter({ key: 'route', burst: 1 }, () => time);
  assert.equal(byRoute.admit(request().ctx, 'one'), true);
  assert.equal(byRoute.admit(request({}, '10.0.0.3').ctx, 'one'), false);
  assert.equal(byRoute.admit(request().ctx, 'two'), true);
});
