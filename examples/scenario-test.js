// A scenario test with l7-balancer/testing, for your own suite (node:test here; vitest alike):
//   node --test examples/scenario-test.js
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Scenario } from 'l7-balancer/testing';

test('a backend that starts failing is ejected, and no client sees an error', async (t) => {
  const scenario = await Scenario.start({
    backends: ['a', 'b', 'c'],
    settings: { strategy: 'round-robin', outlier: { consecutiveFailures: 3 } },
  });
  t.after(() => scenario.stop());

  const before = await scenario.load({ requests: 30 });
  assert.deepEqual(before.byBackend, { a: 10, b: 10, c: 10 });

  // b answers 503 to everything from now on; its health check still passes.
  scenario.behave('b', { errorRate: 1, errorStatus: 503 });
  const during = await scenario.load({ requests: 200, concurrency: 8 });
  assert.equal(during.errors, 0, 'retries and ejection hide the failures from clients');

  const { backends, retries, events } = await scenario.results();
  assert.equal(backends.b.ejections, 1);
  assert.equal(backends.b.state, 'ejected');
  assert.ok(backends.b.requests < 20, `b still got ${backends.b.requests} requests`);
  assert.ok(retries > 0);
  assert.ok(events.some((e) => e.kind === 'ejected' && e.backend === 'b'));
});
