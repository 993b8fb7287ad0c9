import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as pool from './index.js';
import { Backend, Pool } from './index.js';
import { parseBackendText } from './backend-spec.js';

const backend = (): Backend => new Backend(parseBackendText('http://127.0.0.1:8001'));

test('state written from outside its owner does not compile, and throws if forced', () => {
  const b = backend();
  // Each line below is a type error (the build checks the expectation); at run time a getter has no setter.
  // @ts-expect-error passive health is written by outlier detection's calls only
  assert.throws(() => { b.failures = 0; }, TypeError);
  // @ts-expect-error load is written by attempt accounting only
  assert.throws(() => { b.inFlight++; }, TypeError);
  // @ts-expect-error a health verdict goes through the pool, which publishes a snapshot
  assert.throws(() => { b.healthy = true; }, TypeError);
  // @ts-expect-error so does ejection
  assert.throws(() => { b.ejected = true; }, TypeError);
  // @ts-expect-error and weight
  assert.throws(() => { b.weight = 2; }, TypeError);
  // @ts-expect-error the metrics row is bound once, by the Tally
  assert.throws(() => { b.metricsRow = new Float64Array(1); }, TypeError);
  // Read-only to the type checker alone: these are never run.
  const typeOnly = (other: Backend): void => {
    // @ts-expect-error identity never changes
    other.id = 'other';
    // @ts-expect-error the rise/fall state moves only through recordCheck
    other.hysteresis.streak = 0;
  };
  void typeOnly;
  assert.equal('poolWrites' in pool, false, "the pool's writer is not exported from the package");
});

test('countFailure counts a run and the total; resetFailures ends the run only', () => {
  const b = backend();
  assert.deepEqual([b.countFailure(), b.countFailure(), b.countFailure()], [1, 2, 3]);
  b.resetFailures();
  assert.equal(b.countFailure(), 1);
  assert.deepEqual([b.failures, b.errors], [1, 4]);
});

test('countEjection returns how many times in all', () => {
  const b = backend();
  assert.deepEqual([b.countEjection(), b.countEjection()], [1, 2]);
  assert.equal(b.ejections, 2);
});

test('recordCheck counts checks and flips only after rise passes or fall failures in a row', () => {
  const b = backend();
  assert.equal(b.recordCheck(true, 2, 3), true, 'the first result decides');
  assert.deepEqual(b.hysteresis, { healthy: true, streak: 0 });
  assert.deepEqual([false, false, true, false, false, false].map((passed) => b.recordCheck(passed, 2, 3)), [false, false, false, false, false, true]);
  assert.deepEqual(b.hysteresis, { healthy: false, streak: 0 });
  assert.deepEqual([true, true].map((passed) => b.recordCheck(passed, 2, 3)), [false, true]);
  assert.deepEqual([b.checksPassed, b.checksFailed], [4, 5]);
  assert.equal(b.healthy, false, 'the verdict reaches the backend only through the pool');
});

test('load: startRequest and endRequest count, setInFlight and setRequests take counts from elsewhere', async () => {
  const b = backend();
  b.startRequest();
  b.startRequest();
  assert.deepEqual([b.inFlight, b.requests], [2, 2]);
  let idle = false;
  const waiting = b.whenIdle().then(() => { idle = true; });
  b.endRequest();
  await Promise.resolve();
  assert.equal(idle, false);
  b.setInFlight(0);
  await waiting;
  assert.equal(idle, true, 'a count from elsewhere wakes whenIdle too');
  b.setRequests(40);
  b.setInFlight(3);
  assert.deepEqual([b.inFlight, b.requests], [3, 40]);
  b.observeLatency(20, 1000);
  assert.equal(b.latency, 20);
});

test('bindMetricsRow keeps the first row it is given', () => {
  const b = backend();
  assert.equal(b.metricsRow, undefined);
  const first = new Float64Array(2);
  assert.equal(b.bindMetricsRow(first), first);
  assert.equal(b.bindMetricsRow(new Float64Array(2)), first);
  assert.equal(b.metricsRow, first);
});

test('the pool writes admin state, health, ejection, weight, warnings and canaries', () => {
  const p = new Pool(['http://127.0.0.1:8001'], { maxRequests: 7 });
  const b = p.backends[0]!;
  assert.equal(b.maxRequests, 7);
  p.setHealth(b, false, 'status 500');
  assert.deepEqual([b.checked, b.healthy, b.healthReason], [true, false, 'status 500']);
  p.setHealth(b, false, 'timeout');
  assert.equal(b.healthReason, 'timeout', 'a failure without a flip still says why');
  p.setHealth(b, true);
  assert.deepEqual([b.healthy, b.healthReason, b.state], [true, undefined, 'up']);
  p.setEjected(b, true);
  assert.equal(b.state, 'ejected');
  p.setState(b.id, 'draining');
  assert.equal(b.admin, 'draining');
  p.setWeight(b.id, 4);
  assert.deepEqual([b.weight, b.effectiveWeight], [4, 4]);
  p.setWarning(b, 'disk 91%', 0.5);
  p.setCanary(b, 0.2);
  b.setSlowStart(0.5);
  assert.deepEqual([b.warning, b.healthFactor, b.canaryFactor, b.slowStartFactor], ['disk 91%', 0.5, 0.2, 0.5]);
  assert.equal(b.weightFactor, 0.5 * 0.5 * 0.2);
  p.setWarning(b, undefined, 0.5);
  assert.equal(b.weightFactor, 0.5 * 0.2);
});
