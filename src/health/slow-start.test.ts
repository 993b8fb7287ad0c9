import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Director, RoundRobin, seededRandom } from '../balancer/index.js';
import { LeastConnections } from '../balancer/strategies/least-connections.js';
import { Pool } from '../pool/index.js';
import { SLOW_START_FLOOR, SlowStart } from './slow-start.js';

function twoBackends(): Pool {
  const pool = new Pool(['http://127.0.0.1:9501', 'http://127.0.0.1:9502']);
  for (const b of pool.backends) pool.setHealth(b, true);
  return pool;
}

test('a backend that comes back ramps linearly from the floor to its full share over the window, with any strategy', () => {
  for (const strategy of [new RoundRobin(), new LeastConnections()]) {
    const pool = twoBackends();
    let now = 0;
    const slowStart = new SlowStart(pool, 1000, () => now);
    slowStart.arm();
    const director = new Director(pool, strategy, seededRandom(7));
    const [steady, warming] = pool.backends as [typeof pool.backends[0], typeof pool.backends[0]];
    pool.setHealth(warming!, false, 'restarting');
    pool.setHealth(warming!, true);
    const shares: number[] = [];
    for (const at of [0, 250, 500, 750, 1000]) {
      now = at;
      slowStart.update();
      let toWarming = 0;
      for (let i = 0; i < 20_000; i++) if (director.pick({ method: 'GET', path: '/', headers: {}, clientIp: '10.0.0.1' }) === warming) toWarming++;
      shares.push(toWarming / 20_000);
    }
    // Half of the picks land on it (two backends), admitted with its factor: floor, ¼, ½, ¾, all.
    const expected = [SLOW_START_FLOOR, 0.25, 0.5, 0.75, 1].map((f) => f / 2);
    shares.forEach((share, i) => assert.ok(Math.abs(share - expected[i]!) < 0.02, `${strategy.name} at ${i * 250} ms: ${share.toFixed(3)} of the traffic, expected about ${expected[i]}`));
    assert.equal(warming.weightFactor, 1);
    assert.equal(steady!.weightFactor, 1);
    slowStart.stop();
  }
});

test('backends up at the first checks are not ramped; one returning from ejection is; a lone warming backend still gets every request', () => {
  const pool = new Pool(['http://127.0.0.1:9501']);
  let now = 0;
  const slowStart = new SlowStart(pool, 1000, () => now);
  const [only] = pool.backends;
  pool.setHealth(only!, true); // the start-up check
  slowStart.arm();
  assert.equal(only!.weightFactor, 1);
  pool.setEjected(only!, true);
  pool.setEjected(only!, false);
  assert.equal(only!.weightFactor, SLOW_START_FLOOR);
  const director = new Director(pool, new RoundRobin(), seededRandom(1));
  for (let i = 0; i < 100; i++) assert.equal(director.pick({ method: 'GET', path: '/', headers: {}, clientIp: '' }), only, 'nothing else to take it');
  now = 1000;
  slowStart.update();
  assert.equal(only!.weightFactor, 1);
  slowStart.stop();
});
