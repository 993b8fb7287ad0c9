import { test } from 'node:test';
import assert from 'node:assert/strict';
import { get } from './helpers/http.js';
import { startBackend, type TestBackend } from './helpers/backend.js';
import { startInProcess } from './helpers/in-process-lb.js';
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
  const refused = await startBackend('refused', undefined, { port: 'dedicated' });
  await refused.close();
  t.after(() => Promise.all([ok, failing, ...hanging].map((b) => b.close())));

  const lb = await startInProcess({
    BACKENDS: [ok, failing, refused, ...hanging].map((b) => b.url).join(','),
    HEALTH_CHECK_PATH: '/health',
    // Long enough that a backend answering at once is never timed out on a busy machine (seen at
    // 400ms with two suites side by side); the hanging ones take this long, together.
    HEALTH_CHECK_TIMEOUT: '2s',
  }, t);

  // Every verdict is in before the listener opens.
  const listening = lb.logs.findIndex((l) => l.msg === 'listening');
  const verdicts = lb.logs.slice(0, listening).filter((l) => l.msg === 'backend is up' || l.msg === 'backend is down');
  assert.equal(verdicts.length, 6);
  assert.equal((await lb.waitForLog(upFor(ok))).healthy, true);
  assert.equal((await lb.waitForLog(downFor(failing))).reason, 'status 500');
  assert.equal((await lb.waitForLog(downFor(refused))).reason, 'connection refused');
  for (const h of hanging) assert.equal((await lb.waitForLog(downFor(h))).reason, 'timeout after 2000ms');

  // Checked one after another, the second would only be asked once the first had timed out.
  const firstTimeout = Math.min(...lb.logs.filter((l) => l.reason === 'timeout after 2000ms').map((l) => l.time as number));
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
  const lb = await startInProcess({
    BACKENDS: `${flappy.url},${steady.url}`,
    HEALTH_CHECK_PATH: '/health',
    HEALTH_CHECK_INTERVAL: '50ms',
  }, t);

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

for (const workers of ['0', '2']) test(`application/health+json: "fail" takes a backend down whatever the HTTP status, "warn" keeps it up with a reduced share, shown in the API (WORKERS=${workers})`, async (t) => {
  let said = { status: 'pass' };
  const json = (body: unknown) => (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse, name: string): void => {
    if (req.url === '/health') {
      res.writeHead(200, { 'content-type': 'application/health+json' });
      res.end(JSON.stringify(body));
    } else res.end(name);
  };
  const semantic = await startBackend('semantic', (req, res) => json(said)(req, res, 'semantic'));
  const failing = await startBackend('failing', (req, res) => json({ status: 'fail', output: 'database unreachable' })(req, res, 'failing'));
  const plain = await startBackend('plain', (req, res) => { res.setHeader('content-type', 'text/plain'); res.end(req.url === '/health' ? '{"status":"fail"}' : 'plain'); });
  t.after(() => Promise.all([semantic, failing, plain].map((b) => b.close())));
  const env = {
    BACKENDS: [semantic, failing, plain].map((b) => b.url).join(','), HEALTH_CHECK_PATH: '/health',
    HEALTH_CHECK_DOWN_INTERVAL: '50ms', HEALTH_CHECK_INTERVAL: '100ms', HEALTH_WARN_WEIGHT: '0.25', ADMIN_PORT: '0',
  };
  // Without workers the balancer runs in this process; the cluster (the primary's health+json view) needs the CLI.
  const lb = workers === '0' ? await startInProcess(env) : await startLb({ ...env, WORKERS: workers });
  t.after(() => lb.stop());
  assert.equal((await lb.waitForLog(downFor(failing))).reason, 'health status fail: database unreachable');
  await lb.waitForLog(upFor(semantic));
  await lb.waitForLog(upFor(plain)); // not health+json: the 2xx-3xx rule

  said = { status: 'warn' };
  const warned = await lb.waitForLog((l) => l.msg === 'backend warns: reduced share of traffic');
  assert.equal(warned.url, semantic.url);
  assert.equal(warned.share, 0.25);
  const admin = `http://127.0.0.1:${(await lb.waitForLog((l) => l.msg === 'admin listening')).port as number}`;
  const row = (JSON.parse((await get(`${admin}/api/backends`)).body).backends as { url: string; state: string; warning?: string }[]).find((b) => b.url === semantic.url)!;
  assert.deepEqual([row.state, row.warning], ['up', 'health status warn']);
  // Round robin over two: the warning one is picked every other time and admitted a quarter of those.
  const counts: Record<string, number> = {};
  for (let i = 0; i < 400; i++) {
    const { body } = await get(lb.url);
    counts[body] = (counts[body] ?? 0) + 1;
  }
  assert.equal(counts.failing, undefined);
  assert.ok(counts.semantic! >= 20 && counts.semantic! <= 90, `semantic got ${counts.semantic} of 400 (about 50 expected)`);

  said = { status: 'pass' };
  await lb.waitForLog((l) => l.msg === 'backend no longer warns: full share of traffic' && l.url === semantic.url);
  said = { status: 'banana' };
  assert.equal((await lb.waitForLog(downFor(semantic))).reason, 'invalid application/health+json (status "banana")');
});
