import { test } from 'node:test';
import assert from 'node:assert/strict';
import { get } from './helpers/http.js';
import { startBackend, type TestBackend } from './helpers/backend.js';
import { startLb, type LogLine } from './helpers/lb.js';

const downFor = (b: TestBackend) => (l: LogLine) => l.msg === 'backend is down' && l.url === b.url;
const upFor = (b: TestBackend) => (l: LogLine) => l.msg === 'backend is up' && l.url === b.url;

test('the first check runs at start-up, concurrently, and names each failure', async (t) => {
  const ok = await startBackend('ok');
  const failing = await startBackend('failing', (req, res) => { res.statusCode = req.url === '/health' ? 500 : 200; res.end('failing'); });
  // Three backends that never answer /health: checked one after another they would take 3 timeouts.
  const checkedAt: number[] = [];
  const hanging = await Promise.all(['h1', 'h2', 'h3'].map((n) => startBackend(n, (req, res) => {
    if (req.url === '/health') checkedAt.push(Date.now());
    else res.end(n);
  })));
  const refused = await startBackend('refused');
  await refused.close();
  t.after(() => Promise.all([ok, failing, ...hanging].map((b) => b.close())));

  const lb = await startLb({
    BACKENDS: [ok, failing, refused, ...hanging].map((b) => b.url).join(','),
    HEALTH_CHECK_PATH: '/health',
    HEALTH_CHECK_TIMEOUT: '400ms',
  });
  t.after(() => lb.stop());

  // Every verdict is in before the listener opens.
  const listening = lb.logs.findIndex((l) => l.msg === 'listening');
  const verdicts = lb.logs.slice(0, listening).filter((l) => l.msg === 'backend is up' || l.msg === 'backend is down');
  assert.equal(verdicts.length, 6);
  assert.equal((await lb.waitForLog(upFor(ok))).healthy, true);
  assert.equal((await lb.waitForLog(downFor(failing))).reason, 'status 500');
  assert.equal((await lb.waitForLog(downFor(refused))).reason, 'connection refused');
  for (const h of hanging) assert.equal((await lb.waitForLog(downFor(h))).reason, 'timeout after 400ms');

  // Checked one after another, the second would only be asked once the first had timed out.
  const firstTimeout = Math.min(...lb.logs.filter((l) => l.reason === 'timeout after 400ms').map((l) => l.time as number));
  assert.equal(checkedAt.length, 3);
  assert.ok(checkedAt.every((t) => t <= firstTimeout), 'all three were being checked before any check timed out');

  for (let i = 0; i < 10; i++) assert.equal((await get(lb.url)).body, 'ok', 'only the healthy backend gets traffic');
});

test('an unhealthy backend gets no traffic until it recovers; each flip is logged once', async (t) => {
  let healthy = true;
  const flappy = await startBackend('flappy', (req, res) => {
    res.statusCode = req.url === '/health' && !healthy ? 503 : 200;
    res.end('flappy');
  });
  const steady = await startBackend('steady');
  t.after(() => Promise.all([flappy.close(), steady.close()]));
  const lb = await startLb({
    BACKENDS: `${flappy.url},${steady.url}`,
    HEALTH_CHECK_PATH: '/health',
    HEALTH_CHECK_INTERVAL: '50ms',
  });
  t.after(() => lb.stop());

  const healthChecks = () => flappy.requests.filter((r) => r.url === '/health').length;
  const roundsPass = async (n: number) => {
    const target = healthChecks() + n;
    while (healthChecks() < target) await new Promise((r) => flappy.server.once('request', r));
  };

  healthy = false;
  assert.equal((await lb.waitForLog(downFor(flappy))).reason, 'status 503');
  const before = flappy.requests.length;
  for (let i = 0; i < 12; i++) assert.equal((await get(lb.url)).body, 'steady');
  assert.equal(flappy.requests.slice(before).filter((r) => r.url !== '/health').length, 0, 'no traffic while down');
  await roundsPass(3);
  assert.equal(lb.logs.filter(downFor(flappy)).length, 1, 'down is logged once, not every round');

  healthy = true;
  // The start-up line matches too: wait for the recovery's own.
  await lb.waitForLog(() => lb.logs.filter(upFor(flappy)).length >= 2);
  await roundsPass(3);
  assert.equal(lb.logs.filter(upFor(flappy)).length, 2, 'up at start-up and once on recovery');
  const bodies = new Set<string>();
  for (let i = 0; i < 4; i++) bodies.add((await get(lb.url)).body);
  assert.deepEqual([...bodies].sort(), ['flappy', 'steady'], 'a recovered backend gets traffic again');
});
