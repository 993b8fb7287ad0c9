import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startBackend, startBackends } from './helpers/backend.js';
import { get } from './helpers/http.js';
import { startLb, type LogLine, type RunningLb } from './helpers/lb.js';

const TOKEN = 'canary-token-0123456789';

async function adminOf(lb: RunningLb): Promise<string> {
  return `http://127.0.0.1:${(await lb.waitForLog((l) => l.msg === 'admin listening')).port as number}`;
}

function call(url: string, method: string, body?: unknown): Promise<{ status: number; body: string }> {
  const text = body === undefined ? undefined : JSON.stringify(body);
  return get(url, { method, headers: { authorization: `Bearer ${TOKEN}`, ...(text === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }) }, body: text });
}

/** The canary's outcome line, once logged (promoted or rolled back). */
function outcomeOf(lb: RunningLb): { line?: LogLine } {
  const outcome: { line?: LogLine } = {};
  void lb.waitForLog((l) => /^canary (promoted|rolled back)/.test(l.msg ?? ''), 120_000).then((line) => { outcome.line = line; }, () => undefined);
  return outcome;
}

/** Sends requests, `concurrency` at a time, until the canary's outcome is logged (at most `max`). */
async function driveUntilOutcome(lb: RunningLb, concurrency: number, max: number): Promise<LogLine> {
  const outcome = outcomeOf(lb);
  let sent = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (outcome.line === undefined && sent++ < max) await get(lb.url);
  }));
  return outcome.line ?? lb.waitForLog((l) => /^canary (promoted|rolled back)/.test(l.msg ?? ''));
}

for (const workers of ['0', '2']) {
  test(`a canary that fails half its requests is rolled back within its window; retries hide its errors from clients (WORKERS=${workers})`, async (t) => {
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
    const added = await call(`${admin}/api/backends`, 'POST', { url: bad.url, id: 'canary', canary: { share: '30%', duration: '1m' } });
    assert.equal(added.status, 201, added.body);
    await lb.waitForLog((l) => l.msg === 'backend is up' && l.backend === 'canary');
    const statuses: number[] = [];
    let rolledBack = false;
    void lb.waitForLog((l) => l.msg?.startsWith('canary rolled back') === true, 60_000).then(() => { rolledBack = true; });
    for (let i = 0; i < 2000 && !rolledBack; i++) statuses.push((await get(lb.url)).status);
    const line = await lb.waitForLog((l) => l.msg?.startsWith('canary rolled back') === true);
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

test('a healthy canary (a re-weighting) ramps up and is promoted at the end of its window', async (t) => {
  const backends = await startBackends(t, undefined, ['a', 'b']);
  const lb = await startLb({ BACKENDS: backends.map((b) => b.url).join(','), STRATEGY: 'weighted-round-robin', ADMIN_PORT: '0', ADMIN_TOKEN: TOKEN });
  t.after(() => lb.stop());
  const admin = await adminOf(lb);
  const id = `127.0.0.1:${backends[1]!.port}`;
  const changed = await call(`${admin}/api/backends/${id}`, 'PATCH', { weight: 3, canary: { share: 0.1, duration: '3s' } });
  assert.equal(changed.status, 200, changed.body);
  const outcome = outcomeOf(lb);
  let during = 0;
  for (let i = 0; i < 60; i++) if ((await get(lb.url)).body === 'b') during++;
  assert.ok(during < 45, `the canary took ${during} of the first 60 requests, not its full 3/4`);
  while (outcome.line === undefined) await get(lb.url);
  assert.match(outcome.line.msg!, /^canary promoted/);
  const row = (JSON.parse((await call(`${admin}/api/backends/${id}`, 'GET')).body)) as { weight: number };
  assert.equal(row.weight, 3);
  const canaries = JSON.parse((await call(`${admin}/api/canaries`, 'GET')).body).canaries as { outcome: string; factor: number }[];
  assert.deepEqual(canaries.map((c) => [c.outcome, c.factor]), [['promoted', 1]]);
  // A malformed canary is refused, and changes nothing.
  const bad = await call(`${admin}/api/backends/${id}`, 'PATCH', { weight: 1, canary: { share: 2, duration: '1m' } });
  assert.equal(bad.status, 400);
  assert.match(bad.body, /canary.share/);
});

test('one slow answer does not roll a canary back: p99s are compared only over 100 requests on each side', async (t) => {
  // Every backend takes 15 ms, so the first judgement (after a second) sees a few dozen requests.
  const backends = await startBackends(t, (req, res, backend) => { req.resume(); setTimeout(() => res.end(backend.name), 15); }, ['a', 'b']);
  let n = 0;
  const paused = await startBackend('paused', (req, res) => {
    if (req.url === '/health') { res.end(); return; }
    // One pause (a collection, a busy core) early in the window: below 100 samples, p99 is the maximum.
    setTimeout(() => res.end('paused'), n++ === 3 ? 100 : 15);
  });
  t.after(() => paused.close());
  const lb = await startLb({ BACKENDS: backends.map((b) => b.url).join(','), HEALTH_CHECK_PATH: '/health', ADMIN_PORT: '0', ADMIN_TOKEN: TOKEN });
  t.after(() => lb.stop());
  const admin = await adminOf(lb);
  const added = await call(`${admin}/api/backends`, 'POST', { url: paused.url, id: 'paused', canary: { share: '50%', duration: '2s' } });
  assert.equal(added.status, 201, added.body);
  await lb.waitForLog((l) => l.msg === 'backend is up' && l.backend === 'paused');
  const line = await driveUntilOutcome(lb, 1, 100_000);
  assert.match(line.msg!, /^canary promoted/);
  assert.ok(n > 4, `the pause was served (${n} requests)`);
});

test('a canary slower on every request is rolled back on its p99', async (t) => {
  const backends = await startBackends(t, undefined, ['a', 'b']);
  const slow = await startBackend('slow', (req, res) => {
    if (req.url === '/health') { res.end(); return; }
    setTimeout(() => res.end('slow'), 40);
  });
  t.after(() => slow.close());
  const lb = await startLb({ BACKENDS: backends.map((b) => b.url).join(','), HEALTH_CHECK_PATH: '/health', ADMIN_PORT: '0', ADMIN_TOKEN: TOKEN });
  t.after(() => lb.stop());
  const admin = await adminOf(lb);
  const added = await call(`${admin}/api/backends`, 'POST', { url: slow.url, id: 'slow', canary: { share: '50%', duration: '1m' } });
  assert.equal(added.status, 201, added.body);
  await lb.waitForLog((l) => l.msg === 'backend is up' && l.backend === 'slow');
  const line = await driveUntilOutcome(lb, 16, 100_000);
  assert.match(line.msg!, /^canary rolled back \(removed\): p99 [\d.]+ ms against the pool's [\d.]+ ms \(\d+ requests\)$/);
  const requests = Number(/\((\d+) requests\)/.exec(line.msg!)![1]);
  assert.ok(requests >= 100, `judged on ${requests} requests`);
});
