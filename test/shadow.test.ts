// @engine-independent: the admin API's shadow wiring; its figures are unit-tested on observations
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startBackends } from './helpers/backend.js';
import { get } from './helpers/http.js';
import { runLb, startLb } from './helpers/lb.js';

// The smoke layer: SHADOW_STRATEGIES wired end to end through the real CLI. What a shadow decides
// and predicts from given latencies is unit-tested with observations and a clock
// (src/balancer/shadow.test.ts); nothing here depends on how fast the backends answer.

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
  test(`SHADOW_STRATEGIES: every request is placed by each shadow, in the API and /metrics (WORKERS=${workers})`, async (t) => {
    const backends = await startBackends(t, undefined, ['a', 'b', 'c']);
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
    assert.deepEqual(summary.shadows.map((s) => [s.strategy, s.decisions]), [['peak-ewma', 60], ['round-robin', 60]]);
    // Whatever the latencies: a shadow round robin, at each worker's offset, picks what the live one does.
    const rr = summary.shadows[1]!;
    assert.equal(rr.agreement, 1);
    assert.deepEqual([rr.p50Ms, rr.p99Ms], [summary.live.p50Ms, summary.live.p99Ms]);

    const metrics = (await get(`${admin}/metrics`)).body;
    assert.match(metrics, /^lb_shadow_agreement_ratio\{strategy="round-robin"\} 1$/m);
    assert.match(metrics, /^lb_shadow_agreement_ratio\{strategy="peak-ewma"\} [\d.]+$/m);
    assert.match(metrics, /^lb_shadow_decisions_total\{strategy="peak-ewma"\} 60$/m);
    assert.match(metrics, /^lb_shadow_predicted_latency_p50_seconds\{strategy="peak-ewma",role="shadow"\} /m);
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
