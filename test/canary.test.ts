// @engine-independent: the admin API's canary wiring; its decisions are unit-tested on a clock
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startBackend, startBackends } from './helpers/backend.js';
import { get } from './helpers/http.js';
import { startLb, type RunningLb } from './helpers/lb.js';

// The smoke layer: canaries started, judged and ended through the real CLI's admin API. The
// decisions themselves (error rate, p99 over 100 requests a side, the ramp, promotion at the end
// of the window) are unit-tested on a manual clock in src/admin/canary.test.ts. Each outcome here
// is the only one possible whatever the timing: a canary failing half its requests with an hour
// to go can only be rolled back, one that serves nothing in its window can only be promoted.

const TOKEN = 'canary-token-0123456789';

async function adminOf(lb: RunningLb): Promise<string> {
  return `http://127.0.0.1:${(await lb.waitForLog((l) => l.msg === 'admin listening')).port as number}`;
}

function call(url: string, method: string, body?: unknown): Promise<{ status: number; body: string }> {
  const text = body === undefined ? undefined : JSON.stringify(body);
  return get(url, { method, headers: { authorization: `Bearer ${TOKEN}`, ...(text === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }) }, body: text });
}

for (const workers of ['0', '2']) {
  test(`a canary that fails half its requests is rolled back and removed; retries hide its errors from clients (WORKERS=${workers})`, async (t) => {
    const good = await startBackends(t, undefined, ['a', 'b']);
    let n = 0;
    const bad = await startBackend('canary', (req, res) => {
      if (req.url === '/health') { res.end(); return; }
      res.statusCode = n++ % 2 === 0 ? 503 : 200;
      res.end('canary');
    });
    t.after(() => bad.close());
    const lb = await startLb({
      BACKENDS: good.map((b) => b.url).join(','), HEALTH_CHECK_PATH: '/health', ADMIN_PORT: '0', ADMIN_TOKEN: TOKEN, WORKERS: workers,
    });
    t.after(() => lb.stop());
    const admin = await adminOf(lb);
    const added = await call(`${admin}/api/backends`, 'POST', { url: bad.url, id: 'canary', canary: { share: '30%', duration: '1h' } });
    assert.equal(added.status, 201, added.body);
    await lb.waitForLog((l) => l.msg === 'backend is up' && l.backend === 'canary');
    const statuses: number[] = [];
    let rolledBack = false;
    const outcome = lb.waitForLog((l) => l.msg?.startsWith('canary rolled back') === true, 120_000);
    void outcome.then(() => { rolledBack = true; }, () => undefined);
    for (let i = 0; i < 5000 && !rolledBack; i++) statuses.push((await get(lb.url)).status);
    const line = await outcome;
    assert.match(line.msg!, /^canary rolled back \(removed\): error rate [\d.]+% against the pool's 0% \(\d+ requests\)$/);
    assert.ok(statuses.every((s) => s === 200), `clients saw ${statuses.filter((s) => s !== 200).length} errors`);
    await lb.waitForLog((l) => l.msg === 'backend removed' && l.backend === 'canary');
    const events = JSON.parse((await call(`${admin}/api/events`, 'GET')).body).events as { kind: string; message: string }[];
    assert.ok(events.some((e) => e.kind === 'canary' && e.message.startsWith('canary started: 30% of traffic')));
    assert.ok(events.some((e) => e.kind === 'canary' && e.message.startsWith('canary rolled back')));
    const canaries = JSON.parse((await call(`${admin}/api/canaries`, 'GET')).body).canaries as { backend: string; outcome: string }[];
    assert.deepEqual(canaries.map((c) => [c.backend, c.outcome]), [['canary', 'rolled back']]);
  });
}

test('a re-weighting guarded by a canary is promoted at the end of its window; a malformed canary is refused', async (t) => {
  const backends = await startBackends(t, undefined, ['a', 'b']);
  const lb = await startLb({ BACKENDS: backends.map((b) => b.url).join(','), STRATEGY: 'weighted-round-robin', ADMIN_PORT: '0', ADMIN_TOKEN: TOKEN });
  t.after(() => lb.stop());
  const admin = await adminOf(lb);
  const id = `127.0.0.1:${backends[1]!.port}`;
  const changed = await call(`${admin}/api/backends/${id}`, 'PATCH', { weight: 3, canary: { share: 0.1, duration: '1s' } });
  assert.equal(changed.status, 200, changed.body);
  const running = JSON.parse((await call(`${admin}/api/canaries`, 'GET')).body).canaries as { backend: string; outcome: string; factor: number }[];
  assert.deepEqual(running.map((c) => [c.backend, c.outcome]), [[id, 'running']]);
  assert.ok(running[0]!.factor < 1, `the canary starts below its full share (factor ${running[0]!.factor})`);
  // No traffic in the window: nothing to judge, so the end of the window can only promote it.
  const line = await lb.waitForLog((l) => /^canary (promoted|rolled back)/.test(l.msg ?? ''), 60_000);
  assert.match(line.msg!, /^canary promoted/);
  const row = (JSON.parse((await call(`${admin}/api/backends/${id}`, 'GET')).body)) as { weight: number };
  assert.equal(row.weight, 3);
  const canaries = JSON.parse((await call(`${admin}/api/canaries`, 'GET')).body).canaries as { outcome: string; factor: number }[];
  assert.deepEqual(canaries.map((c) => [c.outcome, c.factor]), [['promoted', 1]]);
  const seen = new Set<string>();
  for (let i = 0; i < 8; i++) seen.add((await get(lb.url)).body);
  assert.deepEqual([...seen].sort(), ['a', 'b'], 'both backends take traffic after the promotion');
  const bad = await call(`${admin}/api/backends/${id}`, 'PATCH', { weight: 1, canary: { share: 2, duration: '1m' } });
  assert.equal(bad.status, 400);
  assert.match(bad.body, /canary.share/);
  assert.equal((JSON.parse((await call(`${admin}/api/backends/${id}`, 'GET')).body) as { weight: number }).weight, 3, 'a refused change changes nothing');
});
