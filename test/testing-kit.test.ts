// @engine-independent: the testing kit's example, run as a user's test would run it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Scenario } from '../src/testing/index.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

test('the example scenario test in examples/ passes, importing the kit by the package name', () => {
  // A test runner of its own: without NODE_TEST_CONTEXT it reports as it would in a user's terminal.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const out = execFileSync(process.execPath, ['--test', '--test-reporter=tap', 'examples/scenario-test.js'], { cwd: ROOT, encoding: 'utf8', env });
  assert.match(out, /^# pass 1$/m);
  assert.match(out, /^# fail 0$/m);
});

test('kit: a backend that closes its listener is taken out by the next checks; clients see no error meanwhile', async (t) => {
  const scenario = await Scenario.start({ backends: ['a', 'b'], settings: { health: { interval: '100ms', downInterval: '50ms' } } });
  t.after(() => scenario.stop());
  await scenario.backend('b').closeListener();
  const seen = await scenario.load({ requests: 100 });
  assert.equal(seen.errors, 0);
  await scenario.until(() => scenario.lb.pool.get('b')!.state === 'down', 'b to be down');
  const after = await scenario.load({ requests: 20 });
  assert.deepEqual(after.byBackend, { a: 20 });
  // Back on its port: the checks bring it back.
  await scenario.backend('b').start();
  await scenario.until(() => scenario.lb.pool.get('b')!.state === 'up', 'b to be up again');
  const back = await scenario.load({ requests: 20 });
  assert.deepEqual(back.byBackend, { a: 10, b: 10 });
});

test('kit: a backend that hangs gets the balancer\'s 504 at PROXY_TIMEOUT, and its tries are not retried for a POST', async (t) => {
  const scenario = await Scenario.start({ backends: [{ name: 'slow', behaviour: { hang: true } }], settings: { proxy: { timeout: '200ms' } } });
  t.after(() => scenario.stop());
  const seen = await scenario.load({ requests: 4, method: 'POST', concurrency: 2 });
  assert.deepEqual(seen.statuses, { 504: 4 });
  const { backends, retries } = await scenario.results();
  assert.equal(backends.slow!.requests, 4);
  assert.equal(retries, 0);
});

test('kit: behaviour changes mid-run; latency and error draws are reproducible with a seeded random', async (t) => {
  let seed = 1;
  const random = (): number => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
  const scenario = await Scenario.start({
    backends: [{ name: 'a', random }, 'b'],
    settings: { strategy: 'round-robin', retry: { retries: 0 }, outlier: { consecutiveFailures: 0 } },
  });
  t.after(() => scenario.stop());
  const seen = await scenario.load({ requests: 40, concurrency: 1, before: (i) => { if (i === 20) scenario.behave('a', { errorRate: 0.5 }); } });
  const { backends } = await scenario.results();
  assert.equal(backends.a!.requests, 20);
  assert.equal(seen.statuses[503], backends.a!.errors);
  assert.ok(backends.a!.errors > 0 && backends.a!.errors < 10, `${backends.a!.errors} errors of a's last 10`);
});

test('kit: a backend that reads uploads slowly still gets the whole body, and slow bodies arrive whole', async (t) => {
  const scenario = await Scenario.start({ backends: [{ name: 'slow', behaviour: { slowRead: 4096, trickle: 2048, bodyBytes: 8192 } }] });
  t.after(() => scenario.stop());
  const body = 'x'.repeat(20_000);
  const res = await fetch(scenario.url, { method: 'POST', body });
  assert.equal(res.status, 200);
  assert.equal((await res.arrayBuffer()).byteLength, 8192);
  assert.equal(scenario.backend('slow').requests, 1);
});
