// @engine-independent: what is logged at start-up, before any request
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startBackend, startBackends, type Handler } from './helpers/backend.js';
import { startLb, type LogLine } from './helpers/lb.js';

/** Answers health checks late, so that a refused backend's verdict always comes first. */
const slowHealth: Handler = (req, res, backend) => {
  req.resume();
  setTimeout(() => res.end(backend.name), req.url === '/health' ? 300 : 0);
};

async function refusingUrl(): Promise<string> {
  const closed = await startBackend('gone', undefined, { port: 'dedicated' });
  await closed.close();
  return closed.url;
}

const isUp = (l: LogLine): boolean => l.msg === 'backend is up';
const noBackend = (l: LogLine): boolean => l.msg === 'no backend available: answering 503';

test('one backend down at start while the others are still being checked: no "no backend available" error', async (t) => {
  const up = await startBackends(t, slowHealth, ['a', 'b']);
  const lb = await startLb({ BACKENDS: [await refusingUrl(), ...up.map((b) => b.url)].join(','), HEALTH_CHECK_PATH: '/health' });
  t.after(() => lb.stop());
  await lb.waitForLog((l) => l.msg === 'backend is down');
  await lb.waitForLog(isUp);
  await lb.waitForLog((l) => isUp(l) && lb.logs.filter(isUp).length === 2);
  assert.deepEqual(lb.logs.filter((l) => (l.level ?? 0) >= 50).map((l) => l.msg), [], 'no error line');
});

test('every backend down: "no backend available" is logged once, as an error, after the last verdict', async (t) => {
  const lb = await startLb({ BACKENDS: [await refusingUrl(), await refusingUrl()].join(','), HEALTH_CHECK_PATH: '/health' });
  t.after(() => lb.stop());
  const error = await lb.waitForLog(noBackend);
  assert.equal(error.level, 50);
  const downs = lb.logs.filter((l) => l.msg === 'backend is down');
  assert.equal(downs.length, 2, 'both verdicts came first');
  assert.equal(lb.logs.filter(noBackend).length, 1);
});
