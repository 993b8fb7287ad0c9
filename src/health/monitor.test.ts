import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { Pool, transition, type HealthState } from '../pool/index.js';
import { HealthMonitor } from './monitor.js';
import type { CheckResult } from './check.js';

test('the first result decides at once', () => {
  const up: HealthState = { healthy: undefined, streak: 0 };
  assert.equal(transition(up, true, 3, 3), true);
  assert.equal(up.healthy, true);
  const down: HealthState = { healthy: undefined, streak: 0 };
  assert.equal(transition(down, false, 3, 3), true);
  assert.equal(down.healthy, false);
});

test('flips only after `fall` failures and `rise` passes in a row', () => {
  const s: HealthState = { healthy: true, streak: 0 };
  const seq = [false, false, true, false, false, false, true, true, false, true];
  const flips = seq.map((passed) => transition(s, passed, 2, 3));
  assert.deepEqual(flips, [false, false, false, false, false, true, false, true, false, false]);
  assert.equal(s.healthy, true);
});

test('a round checks all backends concurrently and applies verdicts to the pool', async () => {
  const pool = new Pool([1, 2, 3].map((n) => ({ url: `http://127.0.0.1:${9200 + n}`, weight: 1 })));
  const started: string[] = [];
  const pending: ((r: CheckResult) => void)[] = [];
  const check = (url: string): Promise<CheckResult> => {
    started.push(url);
    return new Promise((resolve) => pending.push(resolve));
  };
  const monitor = new HealthMonitor(pool, { path: '/health', interval: 60_000, timeout: 1000, rise: 1, fall: 1 }, pino({ level: 'silent' }), check);
  const round = monitor.runRound();
  assert.equal(started.length, 3, 'all three checks are in flight before any finishes');
  assert.deepEqual(started, ['http://127.0.0.1:9201/health', 'http://127.0.0.1:9202/health', 'http://127.0.0.1:9203/health']);
  pending[0]!({ ok: true });
  pending[1]!({ ok: false, reason: 'status 500' });
  pending[2]!({ ok: true });
  await round;
  assert.deepEqual(pool.available.map((b) => b.id), ['127.0.0.1:9201', '127.0.0.1:9203']);
  assert.equal(pool.backends[1]!.healthReason, 'status 500');
  await monitor.stop();
});

test('a backend added at runtime is checked at once, and takes traffic only once a check has passed', async () => {
  const pool = new Pool(['http://127.0.0.1:9301']);
  let pass = false;
  const checked: string[] = [];
  let checkedNew!: () => void;
  const newChecked = new Promise<void>((resolve) => { checkedNew = resolve; });
  const check = async (url: string): Promise<CheckResult> => {
    checked.push(url);
    if (url.includes('9302')) setImmediate(checkedNew);
    return { ok: !url.includes('9302') || pass, reason: 'status 503' };
  };
  const monitor = new HealthMonitor(pool, { path: '/health', interval: 60_000, timeout: 1000, rise: 1, fall: 1 }, pino({ level: 'silent' }), check);
  await monitor.start();
  const added = pool.add('http://127.0.0.1:9302');
  assert.equal(pool.available.includes(added), false, 'not before its first check');
  await newChecked;
  assert.equal(added.checked, true);
  assert.equal(pool.available.includes(added), false, 'a failed check keeps it out');
  pass = true;
  await monitor.runRound();
  assert.equal(pool.available.includes(added), true);
  assert.equal(added.hysteresis.healthy, true, 'its hysteresis lives on the backend');
  await monitor.stop();
});
