import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { Director } from '../balancer/director.js';
import { seededRandom } from '../balancer/random.js';
import { WeightedRoundRobin } from '../balancer/strategies/weighted-round-robin.js';
import { Tally, type Counts } from '../metrics/index.js';
import { Pool, type Backend } from '../pool/index.js';
import { Canaries } from './canary.js';
import { ManualClock } from './manual-clock.test.js';
import { EventLog } from './events.js';

/** Two healthy backends, `a` and `b`, with a Canaries watching them on a manual clock, counting into a Tally. */
function setUp(strategyWeights: readonly number[] = [1, 1]) {
  const pool = new Pool(strategyWeights.map((weight, i) => ({ url: `http://127.0.0.1:${10_001 + i}`, id: 'ab'[i]!, weight })));
  for (const b of pool.backends) pool.setHealth(b, true);
  const tally = new Tally();
  const counts = (): Promise<Counts> => Promise.resolve({
    rows: [...tally.entries()], process: { retries: 0, queued: 0, connections: 0, logLinesDropped: 0 },
  });
  const events = new EventLog();
  const clock = new ManualClock();
  let changed = 0;
  const canaries = new Canaries(pool, counts, events, pino({ level: 'silent' }), () => { changed++; }, clock);
  /** `n` answers from `backend` with `status`, each taking `ms`. */
  const serve = (backend: Backend, n: number, status: number, ms: number): void => {
    for (let i = 0; i < n; i++) tally.record(tally.rowOf(backend), status, ms / 1000);
  };
  /** `n` tries on `backend` that failed at the gateway and were retried elsewhere (no status of its own). */
  const failTries = (backend: Backend, n: number): void => {
    for (let i = 0; i < n; i++) tally.gatewayFailure(backend);
  };
  const added = (id: string): Backend => {
    const backend = pool.add({ url: `http://127.0.0.1:${10_100 + pool.backends.length}`, id });
    pool.setHealth(backend, true);
    return backend;
  };
  const messages = (): string[] => events.recent().filter((e) => e.kind === 'canary').map((e) => e.message);
  const outcomes = (): [string, string][] => (canaries.list() as { backend: string; outcome: string }[]).map((c) => [c.backend, c.outcome]);
  return { pool, tally, canaries, clock, serve, failTries, added, messages, outcomes, changes: () => changed };
}

test('a canary failing half its requests is rolled back on its error rate at the first judgement past 20 requests, and removed', async () => {
  const { pool, canaries, clock, serve, added, messages, outcomes, changes } = setUp();
  const [a, b] = pool.backends;
  const canary = added('canary');
  await canaries.start(canary, { share: 0.3, duration: 3_600_000 }, { kind: 'remove' });
  assert.deepEqual(messages(), ['canary started: 30% of traffic, full share in 3600 s']);
  serve(a!, 50, 200, 5);
  serve(b!, 50, 200, 5);
  serve(canary, 9, 200, 5);
  serve(canary, 10, 503, 5);
  await clock.advance(1000);
  assert.deepEqual(outcomes(), [['canary', 'running']], '19 requests: not judged yet');
  serve(canary, 1, 200, 5);
  await clock.advance(999);
  assert.deepEqual(outcomes(), [['canary', 'running']], 'judged once a second, not before');
  await clock.advance(1);
  assert.deepEqual(outcomes(), [['canary', 'rolled back']]);
  assert.equal(messages().at(-1), "canary rolled back (removed): error rate 50% against the pool's 0% (20 requests)");
  await canary.whenIdle();
  await Promise.resolve();
  assert.equal(pool.get('canary'), undefined, 'the added backend is removed');
  assert.equal(canary.canaryFactor, 1);
  assert.ok(changes() >= 1, 'the change is announced (to a cluster\'s workers)');
  assert.equal(clock.ticking, false, 'nothing left to watch: the timer stops');
});

test('tries that failed and were retried elsewhere count as errors though clients never saw them', async () => {
  const { pool, canaries, clock, serve, failTries, added, messages, outcomes } = setUp();
  const canary = added('canary');
  await canaries.start(canary, { share: 0.3, duration: 3_600_000 }, { kind: 'remove' });
  serve(pool.backends[0]!, 100, 200, 5);
  serve(canary, 20, 200, 5);
  failTries(canary, 20);
  await clock.advance(1000);
  assert.deepEqual(outcomes(), [['canary', 'rolled back']]);
  assert.equal(messages().at(-1), "canary rolled back (removed): error rate 50% against the pool's 0% (20 requests)");
});

test('an error rate is judged against the pool: above 1% and above twice the pool\'s', async () => {
  {
    // 1% against 0%: at the floor, not above it.
    const { pool, canaries, clock, serve, added, outcomes } = setUp();
    const canary = added('canary');
    await canaries.start(canary, { share: 0.5, duration: 3_600_000 }, { kind: 'remove' });
    serve(pool.backends[0]!, 100, 200, 5);
    serve(canary, 99, 200, 5);
    serve(canary, 1, 503, 5);
    await clock.advance(1000);
    assert.deepEqual(outcomes(), [['canary', 'running']]);
  }
  {
    // 10% against the pool's 6%: worse, but not twice as bad; 13% is.
    const { pool, canaries, clock, serve, added, outcomes, messages } = setUp();
    const canary = added('canary');
    await canaries.start(canary, { share: 0.5, duration: 3_600_000 }, { kind: 'remove' });
    serve(pool.backends[0]!, 94, 200, 5);
    serve(pool.backends[0]!, 6, 503, 5);
    serve(canary, 90, 200, 5);
    serve(canary, 10, 503, 5);
    await clock.advance(1000);
    assert.deepEqual(outcomes(), [['canary', 'running']]);
    serve(canary, 3, 503, 5);
    await clock.advance(1000);
    assert.deepEqual(outcomes(), [['canary', 'rolled back']]);
    assert.equal(messages().at(-1), "canary rolled back (removed): error rate 12.6% against the pool's 6% (103 requests)");
  }
});

test('one slow answer does not roll a canary back: p99s are compared only once each side has served 100 requests', async () => {
  const { pool, canaries, clock, serve, added, messages, outcomes } = setUp();
  const [a, b] = pool.backends;
  const canary = added('paused');
  await canaries.start(canary, { share: 0.5, duration: 2000 }, { kind: 'remove' });
  // A pause early in the window: below 100 samples the canary's p99 is that one answer.
  serve(a!, 20, 200, 15);
  serve(b!, 20, 200, 15);
  serve(canary, 3, 200, 15);
  serve(canary, 1, 200, 100);
  serve(canary, 36, 200, 15);
  await clock.advance(1000);
  assert.deepEqual(outcomes(), [['paused', 'running']]);
  await clock.advance(1000);
  assert.deepEqual(outcomes(), [['paused', 'promoted']]);
  // 80 ms against 24.85 ms would be a roll-back, had either side served 100 requests.
  assert.equal(messages().at(-1), 'canary promoted: 40 requests, error rate 0% (pool 0%), p99 80 ms (pool 24.85 ms)');
  assert.equal(canary.canaryFactor, 1);
  assert.equal(pool.get('paused'), canary, 'promoted: it stays');
});

test('a canary slower on every request is rolled back on its p99 at 100 requests on each side, not before', async () => {
  const { pool, canaries, clock, serve, added, messages, outcomes } = setUp();
  const [a, b] = pool.backends;
  const canary = added('slow');
  await canaries.start(canary, { share: 0.5, duration: 3_600_000 }, { kind: 'remove' });
  serve(a!, 50, 200, 5);
  serve(b!, 49, 200, 5);
  serve(canary, 500, 200, 40);
  await clock.advance(1000);
  assert.deepEqual(outcomes(), [['slow', 'running']], 'the pool has 99 requests');
  serve(b!, 1, 200, 5);
  serve(canary, 1, 200, 40);
  await clock.advance(1000);
  assert.deepEqual(outcomes(), [['slow', 'rolled back']]);
  // 40 ms answers fall in (25 ms, 50 ms], 5 ms ones in (2.5 ms, 5 ms]: p99 interpolated within.
  assert.equal(messages().at(-1), "canary rolled back (removed): p99 49.75 ms against the pool's 4.975 ms (501 requests)");
});

test('the canary\'s side needs 100 requests too before its p99 is judged', async () => {
  const { pool, canaries, clock, serve, added, messages, outcomes } = setUp();
  const canary = added('slow');
  await canaries.start(canary, { share: 0.5, duration: 3_600_000 }, { kind: 'remove' });
  serve(pool.backends[0]!, 1000, 200, 5);
  serve(canary, 99, 200, 40);
  await clock.advance(1000);
  assert.deepEqual(outcomes(), [['slow', 'running']]);
  serve(canary, 1, 200, 40);
  await clock.advance(1000);
  assert.deepEqual(outcomes(), [['slow', 'rolled back']]);
  assert.equal(messages().at(-1), "canary rolled back (removed): p99 49.75 ms against the pool's 4.975 ms (100 requests)");
});

test('a p99 twice the pool\'s but less than 20 ms above it is no reason to roll back', async () => {
  const { pool, canaries, clock, serve, added, outcomes } = setUp();
  const canary = added('canary');
  await canaries.start(canary, { share: 0.5, duration: 3_600_000 }, { kind: 'remove' });
  serve(pool.backends[0]!, 200, 200, 2);
  serve(canary, 200, 200, 8); // p99 9.95 ms against 2.4875 ms
  await clock.advance(1000);
  assert.deepEqual(outcomes(), [['canary', 'running']]);
});

test('a healthy re-weighting ramps up from its share, quarter by quarter, and is promoted at the end of its window', async () => {
  const { pool, canaries, clock, serve, messages, outcomes } = setUp([1, 1]);
  const [a, b] = pool.backends;
  pool.setWeight('b', 3);
  await canaries.start(b!, { share: 0.1, duration: 4000 }, { kind: 'weight', weight: 1 });
  // Its full share is 3/4; it starts at a tenth of all traffic.
  const start = 0.1 / 0.75;
  assert.equal(b!.canaryFactor, start);
  const factors: number[] = [];
  for (let s = 1; s <= 3; s++) {
    serve(a!, 5, 200, 5);
    serve(b!, 5, 200, 5);
    await clock.advance(1000);
    factors.push(b!.canaryFactor);
  }
  assert.deepEqual(factors, [0.25, 0.5, 0.75].map((p) => Math.min(1, start + (1 - start) * p)));
  assert.deepEqual(outcomes(), [['b', 'running']]);
  const listed = canaries.list() as { progress: number }[];
  assert.equal(listed[0]!.progress, 0.75);
  await clock.advance(1000);
  assert.deepEqual(outcomes(), [['b', 'promoted']]);
  assert.equal(b!.canaryFactor, 1);
  assert.equal(b!.weight, 3, 'the new weight stays');
  assert.deepEqual(messages().map((m) => m.split(':')[0]), [
    'canary started', 'canary 25% through', 'canary 50% through', 'canary 75% through', 'canary promoted',
  ]);
  assert.equal(messages().at(-1), 'canary promoted: 15 requests, error rate 0% (pool 0%), p99 4.975 ms (pool 4.975 ms)');
  assert.deepEqual((canaries.list() as { factor: number }[]).map((c) => c.factor), [1]);
});

test('at the start of its window a re-weighted canary takes its share of picks, not its full share', async () => {
  const { pool, canaries } = setUp([1, 1]);
  const b = pool.backends[1]!;
  pool.setWeight('b', 3);
  await canaries.start(b, { share: 0.1, duration: 60_000 }, { kind: 'weight', weight: 1 });
  canaries.stop();
  const director = new Director(pool, new WeightedRoundRobin(), seededRandom(3));
  let taken = 0;
  const picks = 4000;
  for (let i = 0; i < picks; i++) if (director.pick({ method: 'GET', path: '/', headers: {}, clientIp: '10.0.0.1' }) === b) taken++;
  // 3/4 at full share; admitted with its factor, it takes about a tenth (the random draws are seeded).
  assert.ok(taken > picks * 0.07 && taken < picks * 0.13, `the canary took ${taken} of ${picks}`);
});

test('a re-weighting rolled back gets its previous weight back', async () => {
  const { pool, canaries, clock, serve, messages, outcomes } = setUp([1, 1]);
  const [a, b] = pool.backends;
  pool.setWeight('b', 3);
  await canaries.start(b!, { share: 0.1, duration: 60_000 }, { kind: 'weight', weight: 1 });
  serve(a!, 100, 200, 5);
  serve(b!, 30, 503, 5);
  await clock.advance(1000);
  assert.deepEqual(outcomes(), [['b', 'rolled back']]);
  assert.equal(b!.weight, 1);
  assert.equal(b!.canaryFactor, 1);
  assert.equal(messages().at(-1), "canary rolled back (weight back to 1): error rate 100% against the pool's 0% (30 requests)");
});

test('a canary whose backend left the pool is over', async () => {
  const { pool, canaries, clock, added, outcomes } = setUp();
  const canary = added('gone');
  await canaries.start(canary, { share: 0.5, duration: 60_000 }, { kind: 'remove' });
  await pool.remove('gone');
  await clock.advance(1000);
  assert.deepEqual(outcomes(), [['gone', 'rolled back']]);
  assert.deepEqual((canaries.list() as { reason: string }[]).map((c) => c.reason), ['the backend left the pool']);
});
