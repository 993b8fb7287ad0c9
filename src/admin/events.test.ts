import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { OutlierDetector } from '../health/index.js';
import { Pool } from '../pool/index.js';
import { EventLog } from './events.js';

test('an ejection on the timeline says why: the failures, the last one, and for how long; a return says why too', () => {
  const pool = new Pool([{ url: 'http://127.0.0.1:8001', id: 'a' }, { url: 'http://127.0.0.1:8002', id: 'b' }]);
  for (const b of pool.backends) pool.setHealth(b, true);
  const events = new EventLog();
  events.watch(pool);
  const outlier = new OutlierDetector(pool, { consecutiveFailures: 3, ejectionTime: 30_000, maxEjected: 0.5 }, pino({ level: 'silent' }));
  const a = pool.get('a')!;
  outlier.failure(a, 'status 503');
  outlier.failure(a, 'connect ECONNREFUSED 127.0.0.1:8001');
  outlier.failure(a, 'status 502');
  // The active checks see it down, then up: it returns at once.
  pool.setHealth(a, false, 'status 500');
  pool.setHealth(a, true);
  outlier.stop();
  const timeline = events.recent().filter((e) => e.kind === 'ejected' || e.kind === 'returned').map((e) => [e.kind, e.backend, e.message]);
  assert.deepEqual(timeline, [
    ['ejected', 'a', 'ejected: 3 gateway failures in a row (the last: status 502); out for 30 s'],
    ['returned', 'a', 'returned: active check passed after down'],
  ]);
});
