import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startBackend, type TestBackend } from '../../helpers/backend.js';
import { get } from '../../helpers/http.js';
import { firstAvailable, startBalancer, until, type EngineName } from '../../helpers/in-process.js';
import { startRawBackend } from '../../helpers/raw-backend.js';
import { RawClient } from '../../helpers/raw-client.js';
import { hanging, holding, refusing } from '../backends.js';

type Context = { after(fn: () => unknown): void };

/** A backend that answers its name, the request body echoed after it. */
async function good(t: Context, name = 'good'): Promise<TestBackend & { bodies: string[] }> {
  const bodies: string[] = [];
  const backend = await startBackend(name, (req, res) => {
    let body = '';
    req.setEncoding('latin1');
    req.on('data', (c: string) => { body += c; });
    req.on('end', () => { bodies.push(body); res.end(`${name}${body}`); });
  });
  t.after(() => backend.close());
  return Object.assign(backend, { bodies });
}

/** A raw backend that reads each whole request, then resets its connection. */
async function resetting(t: Context) {
  const backend = await startRawBackend((req) => req.socket.destroy());
  t.after(() => backend.close());
  return backend;
}

export function retryCases(engine: EngineName): void {
  describe(`retries (${engine})`, () => {
    it('a refused connection is retried on another backend for any method, body included', async (t) => {
      const ok = await good(t);
      const { url } = await startBalancer(t, engine, [await refusing(), ok.url], { RETRIES: '1' }, firstAvailable);
      const post = await get(url, { method: 'POST', body: 'payload', headers: { 'content-type': 'text/plain' } });
      assert.deepEqual([post.status, post.body], [200, 'goodpayload']);
      const patch = await get(url, { method: 'PATCH', body: 'more' });
      assert.deepEqual([patch.status, patch.body], [200, 'goodmore']);
      assert.deepEqual(ok.bodies, ['payload', 'more']);
    });

    it('an idempotent request without a body reset before any response is retried on another backend', async (t) => {
      const resetter = await resetting(t);
      const ok = await good(t);
      const { url } = await startBalancer(t, engine, [resetter.url, ok.url], { RETRIES: '1' }, firstAvailable);
      const response = await get(url);
      assert.deepEqual([response.status, response.body], [200, 'good']);
      assert.equal(resetter.requests.length, 1);
      assert.equal(ok.bodies.length, 1);
    });

    it('a POST whose body reached the backend is never retried: 502', async (t) => {
      const resetter = await resetting(t);
      const ok = await good(t);
      const { url } = await startBalancer(t, engine, [resetter.url, ok.url], { RETRIES: '2' }, firstAvailable);
      const response = await get(url, { method: 'POST', body: 'once only' });
      assert.equal(response.status, 502);
      assert.deepEqual(resetter.requests.map((r) => r.body.toString()), ['once only']);
      assert.equal(ok.bodies.length, 0);
    });

    it('a response already started is never retried: the client is cut, the other backend never asked', async (t) => {
      const cutter = await startRawBackend((req) => {
        req.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial', () => req.socket.destroy());
      });
      t.after(() => cutter.close());
      const ok = await good(t);
      const { port } = await startBalancer(t, engine, [cutter.url, ok.url], { RETRIES: '2' }, firstAvailable);
      const client = await RawClient.connect(port);
      t.after(() => client.close());
      client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await client.closed;
      assert.match(client.received.toString('latin1'), /^HTTP\/1\.1 200 [^]*partial$/);
      assert.equal(ok.bodies.length, 0);
    });

    it('RETRY_ON_STATUS: a listed status to an idempotent request is retried elsewhere; a POST with a body gets the backend\'s answer', async (t) => {
      const sick = await startBackend('sick', (req, res) => { req.resume(); res.statusCode = 503; res.end('sick'); });
      t.after(() => sick.close());
      const ok = await good(t);
      const { url } = await startBalancer(t, engine, [sick.url, ok.url], { RETRIES: '1', RETRY_ON_STATUS: '503' }, firstAvailable);
      const getResponse = await get(url);
      assert.deepEqual([getResponse.status, getResponse.body], [200, 'good']);
      const post = await get(url, { method: 'POST', body: 'x' });
      assert.deepEqual([post.status, post.body], [503, 'sick']);
      assert.equal(sick.requests.length, 2);
      assert.equal(ok.bodies.length, 1);
    });

    it('RETRIES bounds the tries: with every backend resetting, RETRIES=1 makes 2 tries, then 502', async (t) => {
      const backends = [await resetting(t), await resetting(t), await resetting(t)];
      const { url } = await startBalancer(t, engine, backends.map((b) => b.url), { RETRIES: '1' });
      assert.equal((await get(url)).status, 502);
      assert.equal(backends.reduce((n, b) => n + b.requests.length, 0), 2);
    });

    it('RETRY_BUDGET: retries in flight are capped (at the floor of 3 with a budget of 0); the others fail with the first try\'s status', async (t) => {
      const resetter = await resetting(t);
      const held = await holding(t);
      const { url, lb } = await startBalancer(t, engine, [resetter.url, held.url], { RETRIES: '1', RETRY_BUDGET: '0' }, firstAvailable);
      const responses = Array.from({ length: 10 }, () => get(url));
      let failed = 0;
      for (const r of responses) void r.then((res) => { if (res.status === 502) failed++; });
      await until(() => failed === 7 && held.requests.length === 3, '7 requests refused a retry and 3 retries held');
      assert.equal(lb.attempts.retrying, 3);
      held.release();
      const statuses = (await Promise.all(responses)).map((r) => r.status).sort();
      assert.deepEqual(statuses, [200, 200, 200, 502, 502, 502, 502, 502, 502, 502]);
      assert.equal(resetter.requests.length, 10);
    });

    it('a request that timed out is never tried again on the same backend', async (t) => {
      const backend = await hanging(t);
      const { url } = await startBalancer(t, engine, [backend.url], { PROXY_TIMEOUT: '200ms', RETRIES: '2' });
      assert.equal((await get(url)).status, 504);
      assert.equal(backend.requests.length, 1, 'one try only on the sole backend');
      const two = [await hanging(t), await hanging(t)];
      const pair = await startBalancer(t, engine, two.map((b) => b.url), { PROXY_TIMEOUT: '200ms', RETRIES: '2' });
      assert.equal((await get(pair.url)).status, 504);
      assert.ok(two.every((b) => b.requests.length <= 1), `each hanging backend saw at most one try: ${two.map((b) => b.requests.length).join(', ')}`);
    });

    it('REQUEST_TIMEOUT bounds all tries together: 504 once it passes, even though tries remain', async (t) => {
      const backends = [await hanging(t), await hanging(t), await hanging(t)];
      // Seconds, not fractions of one: at 300 ms, a machine at load 15 had not made the first try yet.
      const { url } = await startBalancer(t, engine, backends.map((b) => b.url), { PROXY_TIMEOUT: '2s', REQUEST_TIMEOUT: '3s', RETRIES: '2' });
      assert.equal((await get(url)).status, 504);
      // Each try waits PROXY_TIMEOUT: a second try would end at 4 s at the earliest, a third at 6.
      const tries = backends.reduce((n, b) => n + b.requests.length, 0);
      assert.ok(tries >= 1 && tries <= 2, `tries made before REQUEST_TIMEOUT: ${tries} (of 3 allowed)`);
    });
  });

  describe(`outlier ejection (${engine})`, () => {
    it('OUTLIER_CONSECUTIVE_FAILURES: a backend that fails 3 times in a row is ejected and sees nothing more', async (t) => {
      const resetter = await resetting(t);
      const ok = await good(t);
      const { lb, url } = await startBalancer(t, engine, [resetter.url, ok.url], { OUTLIER_CONSECUTIVE_FAILURES: '3', OUTLIER_EJECTION_TIME: '1h' });
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) statuses.push((await get(url)).status);
      assert.deepEqual(statuses.filter((s) => s === 502).length, 3);
      assert.equal(resetter.requests.length, 3);
      assert.deepEqual(lb.pool.backends.map((b) => b.state), ['ejected', 'up']);
    });

    it('OUTLIER_MAX_EJECTED: the last backend of the pool is never ejected', async (t) => {
      const resetter = await resetting(t);
      const { lb, url } = await startBalancer(t, engine, [resetter.url], { OUTLIER_CONSECUTIVE_FAILURES: '1', OUTLIER_EJECTION_TIME: '1h' });
      for (let i = 0; i < 3; i++) assert.equal((await get(url)).status, 502);
      assert.equal(resetter.requests.length, 3);
      assert.equal(lb.pool.backends[0]!.state, 'up');
    });
  });

  describe(`slow start (${engine})`, () => {
    it('SLOW_START: a backend that comes back up takes a small share at first (from 5%), not its half', async (t) => {
      const a = await good(t, 'a');
      const b = await good(t, 'b');
      const { lb, url } = await startBalancer(t, engine, [a.url, b.url], { SLOW_START: '1h' });
      const back = lb.pool.backends[1]!;
      lb.pool.setHealth(back, false, 'test');
      lb.pool.setHealth(back, true);
      for (let i = 0; i < 200; i++) assert.equal((await get(url)).status, 200);
      // Round robin would give it 100; at 5% it gets about 5 (40 or more has odds below 1e-20).
      assert.ok(b.bodies.length < 40, `the warming backend got ${b.bodies.length} of 200`);
      assert.equal(a.bodies.length + b.bodies.length, 200);
    });
  });

  describe(`queue (${engine})`, () => {
    it('BACKEND_MAX_REQUESTS and QUEUE_SIZE: a full backend makes requests wait, served in order as it frees up; beyond the queue, 503 at once', async (t) => {
      const backend = await holding(t);
      const { lb, url } = await startBalancer(t, engine, [backend.url], { BACKEND_MAX_REQUESTS: '1', QUEUE_SIZE: '2' });
      const first = get(`${url}/1`);
      await backend.nextRequest();
      const second = get(`${url}/2`);
      await until(async () => (await lb.processCounts()).queued === 1, 'the second request queued');
      const third = get(`${url}/3`);
      await until(async () => (await lb.processCounts()).queued === 2, 'the third request queued');
      const refused = await get(`${url}/4`);
      assert.equal(refused.status, 503);
      assert.equal(backend.requests.length, 1, 'a full backend is given nothing more');
      backend.release();
      const bodies = (await Promise.all([first, second, third])).map((r) => `${r.status} ${r.body}`);
      assert.deepEqual(bodies, ['200 /1', '200 /2', '200 /3']);
      assert.deepEqual(backend.requests.map((r) => r.url), ['/1', '/2', '/3'], 'first in, first served');
    });
  });
}
