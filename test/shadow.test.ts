import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startBackends } from './helpers/backend.js';
import { get } from './helpers/http.js';
import { runLb, startLb } from './helpers/lb.js';

interface Summary {
  live: { strategy: string; decisions: number; p50Ms: number; p99Ms: number };
  shadows: { strategy: string; decisions: number; agreement: number; p50Ms: number; p99Ms: number }[];
}

/** `promtool check metrics` finds nothing to report (CI installs promtool; elsewhere it may be missing). */
function promtoolAccepts(text: string): void {
  const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (promtool.error !== undefined) {
    assert.notEqual(process.env.CI, 'true', 'promtool is required in CI');
    return;
  }
  assert.equal((promtool.stdout + promtool.stderr).trim(), '');
}

for (const workers of ['0', '2']) {
  test(`SHADOW_STRATEGIES: agreement with the live choice and predicted latency per shadow, in the API and /metrics (WORKERS=${workers})`, async (t) => {
    // Far apart: the first answer on a new connection, or one stalled on a busy machine, can take
    // tens of ms, and a latency estimate keeps such a peak for the rest of this short run; the fast
    // backend's must stay below the slow one's for the predictions to compare as they should.
    const delays: Record<string, number> = { fast: 0, slow: 100, slower: 200 };
    const backends = await startBackends(t, (req, res, backend) => {
      if (req.url === '/health') { res.end(); return; }
      setTimeout(() => res.end(backend.name), delays[backend.name]);
    }, ['fast', 'slow', 'slower']);
    const lb = await startLb({
      BACKENDS: backends.map((b) => b.url).join(','), STRATEGY: 'round-robin', SHADOW_STRATEGIES: 'peak-ewma,round-robin',
      ADMIN_PORT: '0', WORKERS: workers,
    });
    t.after(() => lb.stop());
    const admin = `http://127.0.0.1:${(await lb.waitForLog((l) => l.msg === 'admin listening')).port as number}`;
    for (let i = 0; i < 60; i++) assert.equal((await get(lb.url)).status, 200);
    const summary = JSON.parse((await get(`${admin}/api/shadow`)).body) as Summary;
    assert.equal(summary.live.strategy, 'round-robin');
    assert.equal(summary.live.decisions, 60);
    const [ewma, rr] = summary.shadows;
    assert.deepEqual([ewma!.strategy, rr!.strategy], ['peak-ewma', 'round-robin']);
    assert.equal(ewma!.decisions, 60);
    // A round robin in the shadow keeps its own position, in step with the live one.
    assert.equal(rr!.agreement, 1);
    assert.deepEqual([rr!.p50Ms, rr!.p99Ms], [summary.live.p50Ms, summary.live.p99Ms]);
    // Peak EWMA would have sent most requests to the fast backend: less agreement, lower predicted latency.
    assert.ok(ewma!.agreement < 0.7, `peak-ewma agreed on ${ewma!.agreement}`);
    assert.ok(ewma!.p50Ms < summary.live.p50Ms, `peak-ewma p50 ${ewma!.p50Ms} ms, live ${summary.live.p50Ms} ms`);
    assert.ok(summary.live.p99Ms >= 150, `live p99 ${summary.live.p99Ms} ms includes the slowest backend`);

    const metrics = (await get(`${admin}/metrics`)).body;
    assert.match(metrics, /^lb_shadow_agreement_ratio\{strategy="round-robin"\} 1$/m);
    assert.match(metrics, /^lb_shadow_decisions_total\{strategy="peak-ewma"\} 60$/m);
    assert.match(metrics, /^lb_shadow_predicted_latency_p99_seconds\{strategy="round-robin",role="live"\} /m);
    promtoolAccepts(metrics);
  });
}

test('SHADOW_STRATEGIES off: /api/shadow says how to turn it on; an unknown name exits 2', async (t) => {
  const [a] = await startBackends(t, undefined, ['a']);
  const lb = await startLb({ BACKENDS: a!.url, ADMIN_PORT: '0' });
  t.after(() => lb.stop());
  const admin = `http://127.0.0.1:${(await lb.waitForLog((l) => l.msg === 'admin listening')).port as number}`;
  const off = await get(`${admin}/api/shadow`);
  assert.equal(off.status, 404);
  assert.match(off.body, /SHADOW_STRATEGIES/);
  assert.doesNotMatch((await get(`${admin}/metrics`)).body, /^lb_shadow_/m, "no shadow samples while off");
  const bad = await runLb({ BACKENDS: a!.url, SHADOW_STRATEGIES: 'peak-ewma,fastest' });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /invalid SHADOW_STRATEGIES.*"fastest".*expected strategy names among/);
});
