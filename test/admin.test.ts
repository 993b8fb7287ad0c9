// @engine-independent: the admin listener (API, probes, metrics, state file); the proxy rules are the conformance suite's
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminApi, type ApiResponse } from './helpers/admin-api.js';
import { get } from './helpers/http.js';
import { startBackend, startBackends, type TestBackend } from './helpers/backend.js';
import { startH2Backend } from './helpers/h2-backend.js';
import { runLb, startLb, type RunningLb } from './helpers/lb.js';

const TOKEN = 'test-token-0123456789';
const AUTH = { authorization: `Bearer ${TOKEN}` };


/** One call to the admin API on a fresh connection, JSON in and out. */
function api(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = AUTH): Promise<ApiResponse> {
  return adminApi(base, method, path, body, headers);
}

async function startWithAdmin(env: Record<string, string>): Promise<RunningLb & { admin: string }> {
  const lb = await startLb({ ADMIN_PORT: '0', HEALTH_CHECK_PATH: '/health', ...env });
  const line = await lb.waitForLog((l) => l.msg === 'admin listening');
  return Object.assign(lb, { admin: `http://127.0.0.1:${line.port as number}` });
}

/** A metric's value in a Prometheus text exposition, by name and exact label set text. */
function metric(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('auth: with a token, the API needs it (401 without, 403 wrong); probes and /metrics never do', async (t) => {
  const [a] = await startBackends(t, undefined, ['a']);
  const lb = await startWithAdmin({ BACKENDS: a!.url, ADMIN_TOKEN: TOKEN });
  t.after(() => lb.stop());
  const none = await api(lb.admin, 'GET', '/api/backends', undefined, {});
  assert.equal(none.status, 401);
  assert.equal(none.body.error.code, 'unauthorized');
  assert.match(String(none.headers['www-authenticate']), /^Bearer/);
  const wrong = await api(lb.admin, 'GET', '/api/backends', undefined, { authorization: 'Bearer not-the-token-at-all' });
  assert.deepEqual([wrong.status, wrong.body.error.code], [403, 'forbidden']);
  const short = await api(lb.admin, 'PATCH', '/api/backends/x', {}, { authorization: 'Bearer x' });
  assert.equal(short.status, 403, 'a token of another length is refused the same way');
  assert.equal((await api(lb.admin, 'GET', '/api/backends')).status, 200);
  for (const path of ['/healthz', '/readyz', '/metrics']) assert.equal((await api(lb.admin, 'GET', path, undefined, {})).status, 200, path);
  // The traffic port knows nothing of the admin API: it proxies.
  assert.equal((await get(`${lb.url}/api/backends`)).body, 'a');
});

test('auth: without a token the API only reads, and a change says how to set one', async (t) => {
  const [a] = await startBackends(t, undefined, ['a']);
  const lb = await startWithAdmin({ BACKENDS: a!.url });
  t.after(() => lb.stop());
  assert.equal((await api(lb.admin, 'GET', '/api/backends', undefined, {})).status, 200);
  const change = await api(lb.admin, 'POST', '/api/backends', { url: 'http://127.0.0.1:1' }, {});
  assert.equal(change.status, 403);
  assert.equal(change.body.error.code, 'no_token_configured');
  assert.match(change.body.error.message, /ADMIN_TOKEN/);
});

test('ADMIN_HOST off loopback without ADMIN_TOKEN, or ADMIN_PORT equal to PORT, refuses to start (exit 2, a clear line)', async () => {
  const open = await runLb({ BACKENDS: 'http://127.0.0.1:1', ADMIN_PORT: '9901', ADMIN_HOST: '0.0.0.0' });
  assert.equal(open.code, 2);
  assert.match(open.stderr, /ADMIN_HOST.*"0\.0\.0\.0".*ADMIN_TOKEN/);
  const same = await runLb({ BACKENDS: 'http://127.0.0.1:1', ADMIN_PORT: '9901', PORT: '9901' });
  assert.equal(same.code, 2);
  assert.match(same.stderr, /ADMIN_PORT.*9901.*other than PORT/);
  const short = await runLb({ BACKENDS: 'http://127.0.0.1:1', ADMIN_PORT: '9901', ADMIN_TOKEN: 'short' });
  assert.equal(short.code, 2);
  assert.match(short.stderr, /ADMIN_TOKEN.*at least 16 characters/);
});

test('/api/backends: list, add (checked before it gets traffic), reweight, maintenance and back, with errors as { error: { code, message } }', async (t) => {
  const [a] = await startBackends(t, undefined, ['a']);
  const b = await startBackend('b');
  t.after(() => b.close());
  const lb = await startWithAdmin({ BACKENDS: a!.url, ADMIN_TOKEN: TOKEN, STRATEGY: 'weighted-round-robin' });
  t.after(() => lb.stop());
  const list = await api(lb.admin, 'GET', '/api/backends');
  assert.deepEqual(list.body.backends.map((x: any) => [x.id, x.url, x.weight, x.state]), [[`127.0.0.1:${a!.port}`, a!.url, 1, 'up']]);
  for (const key of ['inFlight', 'requests', 'errors', 'latencyMs']) assert.equal(typeof list.body.backends[0][key], 'number', key);

  const added = await api(lb.admin, 'POST', '/api/backends', { url: b.url, weight: 3, id: 'b' });
  assert.equal(added.status, 201);
  assert.deepEqual([added.body.id, added.body.weight], ['b', 3]);
  // Until its health check passes it gets nothing; then 3 of every 4 requests.
  await lb.waitForLog((l) => l.msg === 'backend is up' && l.backend === 'b');
  assert.ok(b.requests.some((r) => r.url === '/health'));
  const bodies: string[] = [];
  for (let i = 0; i < 8; i++) bodies.push((await get(lb.url)).body);
  assert.equal(bodies.filter((x) => x === 'b').length, 6);

  const reweighted = await api(lb.admin, 'PATCH', '/api/backends/b', { weight: 1 });
  assert.deepEqual([reweighted.status, reweighted.body.weight], [200, 1]);
  const off = await api(lb.admin, 'PATCH', '/api/backends/b', { state: 'maintenance' });
  assert.equal(off.body.state, 'maintenance');
  for (let i = 0; i < 4; i++) assert.equal((await get(lb.url)).body, 'a');
  assert.equal((await api(lb.admin, 'PATCH', '/api/backends/b', { state: 'up' })).body.state, 'up');

  const errors: [string, string, unknown, number, string][] = [
    ['POST', '/api/backends', { url: 'ftp://x' }, 400, 'invalid_value'],
    ['POST', '/api/backends', { url: b.url }, 409, 'conflict'],
    ['POST', '/api/backends', { url: 'http://127.0.0.1:9', colour: 'red' }, 400, 'unknown_field'],
    ['POST', '/api/backends', '{not json', 400, 'invalid_json'],
    ['POST', '/api/backends', { url: 'http://127.0.0.1:9', weight: 'heavy' }, 400, 'invalid_value'],
    ['PATCH', '/api/backends/b', { weight: 0 }, 400, 'invalid_value'],
    ['PATCH', '/api/backends/b', { state: 'sleeping' }, 400, 'invalid_value'],
    ['PATCH', '/api/backends/nope', { weight: 2 }, 404, 'not_found'],
    ['PUT', '/api/backends', {}, 405, 'method_not_allowed'],
    ['GET', '/api/nothing', undefined, 404, 'not_found'],
    ['POST', '/api/backends', { url: `http://127.0.0.1:9/${'x'.repeat(70_000)}` }, 413, 'body_too_large'],
  ];
  for (const [method, path, body, status, code] of errors) {
    const res = await api(lb.admin, method, path, body);
    assert.deepEqual([res.status, res.body?.error?.code], [status, code], `${method} ${path} ${JSON.stringify(body)?.slice(0, 60)}`);
    assert.equal(typeof res.body.error.message, 'string');
  }
  const bad = await api(lb.admin, 'PATCH', '/api/backends/b', { state: 'sleeping' });
  assert.match(bad.body.error.message, /state "sleeping": expected "maintenance" or "up"/);
});

test('/api/backends takes a proto: an h2c backend is checked and proxied over HTTP/2; a proto that does not fit the URL is refused', async (t) => {
  const [a] = await startBackends(t, undefined, ['a']);
  const h2 = await startH2Backend(t, 'h2');
  // HTTP/2 backends take the node engine's requests only; none is configured at start, so the engine is said.
  const lb = await startWithAdmin({ BACKENDS: a!.url, ADMIN_TOKEN: TOKEN, ENGINE: 'node' });
  t.after(() => lb.stop());
  const added = await api(lb.admin, 'POST', '/api/backends', { url: `http://127.0.0.1:${h2.port}`, id: 'h2', proto: 'h2c' });
  assert.deepEqual([added.status, added.body.proto], [201, 'h2c']);
  assert.equal((await api(lb.admin, 'GET', '/api/backends')).body.backends[0].proto, 'http1', 'an http:// backend without one is HTTP/1.1');
  await lb.waitForLog((l) => l.msg === 'backend is up' && l.backend === 'h2');
  const bodies = new Set<string>();
  for (let i = 0; i < 4; i++) bodies.add((await get(lb.url)).body);
  assert.ok(bodies.has('h2'), `the h2c backend answered (${[...bodies].join(', ')})`);
  assert.ok(h2.streams.some((s) => s.headers[':path'] === '/' && s.headers['user-agent'] !== 'load-balancer-health-check'), 'a proxied stream');
  for (const [body, pattern] of [
    [{ url: 'http://127.0.0.1:9', proto: 'h2' }, /h2 \(HTTP\/2 over TLS\) with an https:\/\/ URL/],
    [{ url: 'http://127.0.0.1:9', proto: 'spdy' }, /auto, http1, h2/],
    [{ url: 'http://127.0.0.1:9', proto: 2 }, /proto/],
  ] as const) {
    const res = await api(lb.admin, 'POST', '/api/backends', body);
    assert.deepEqual([res.status, res.body.error.code], [400, 'invalid_value'], JSON.stringify(body));
    assert.match(res.body.error.message, pattern);
  }
});

test('drain and delete: no new requests, the one in flight finishes, then maintenance (drain) or gone (delete)', async (t) => {
  let release: (() => void) | undefined;
  const slow = await startBackend('slow', (req, res) => {
    req.resume();
    if (req.url === '/slow') release = () => res.end('slow done');
    else res.end('slow');
  });
  t.after(() => slow.close());
  const [fast] = await startBackends(t, undefined, ['fast']);
  const lb = await startWithAdmin({ BACKENDS: `${slow.url}|id=slow,${fast!.url}|id=fast`, ADMIN_TOKEN: TOKEN, STRATEGY: 'round-robin' });
  t.after(() => lb.stop());
  for (const verb of ['drain', 'delete'] as const) {
    // Round robin: the next request to /slow that lands on `slow` stays in flight.
    let inFlight: Promise<string> | undefined;
    for (let i = 0; i < 2 && inFlight === undefined; i++) {
      const pending = get(`${lb.url}/slow`).then((r) => r.body);
      const settled = await Promise.race([pending, new Promise<undefined>((r) => setTimeout(r, 300, undefined))]);
      if (settled === undefined) inFlight = pending;
    }
    assert.ok(inFlight, 'a request is in flight to slow');
    const res = verb === 'drain' ? await api(lb.admin, 'POST', '/api/backends/slow/drain') : await api(lb.admin, 'DELETE', '/api/backends/slow');
    assert.deepEqual([res.status, res.body.state], [202, 'draining']);
    for (let i = 0; i < 4; i++) assert.equal((await get(lb.url)).body, 'fast');
    release!();
    assert.equal(await inFlight, 'slow done');
    if (verb === 'drain') {
      await lb.waitForLog((l) => l.msg === 'backend admin' && l.backend === 'slow' && l.state === 'maintenance');
      assert.equal((await api(lb.admin, 'GET', '/api/backends/slow')).body.state, 'maintenance');
      await api(lb.admin, 'PATCH', '/api/backends/slow', { state: 'up' });
    } else {
      await lb.waitForLog((l) => l.msg === 'backend removed' && l.backend === 'slow');
      assert.equal((await api(lb.admin, 'GET', '/api/backends/slow')).status, 404);
    }
  }
});

test('/readyz is 503 with no healthy backend and while draining; /healthz stays 200 while the process serves', async (t) => {
  const dead = await startBackend('dead', undefined, { port: 'dedicated' });
  await dead.close();
  const lb = await startWithAdmin({ BACKENDS: dead.url });
  t.after(() => lb.stop());
  const ready = await api(lb.admin, 'GET', '/readyz', undefined, {});
  assert.deepEqual([ready.status, ready.body.ready, ready.body.available], [503, false, 0]);
  assert.equal((await api(lb.admin, 'GET', '/healthz', undefined, {})).status, 200);

  let release: (() => void) | undefined;
  const slow = await startBackend('slow', (req, res) => { req.resume(); if (req.url === '/health') res.end('ok'); else release = () => res.end('done'); });
  t.after(() => slow.close());
  const lb2 = await startWithAdmin({ BACKENDS: slow.url, SHUTDOWN_TIMEOUT: '1h' });
  t.after(() => lb2.stop());
  assert.equal((await api(lb2.admin, 'GET', '/readyz', undefined, {})).status, 200);
  const pending = get(lb2.url);
  while (release === undefined) await new Promise((r) => setTimeout(r, 10));
  lb2.proc.kill('SIGTERM');
  await lb2.waitForLog((l) => l.msg === 'shutting down');
  const draining = await api(lb2.admin, 'GET', '/readyz', undefined, {});
  assert.deepEqual([draining.status, draining.body.draining], [503, true]);
  release();
  assert.equal((await pending).body, 'done');
});

test('/metrics: counts match the requests sent, by backend and status class; the histogram agrees; promtool finds nothing to report', async (t) => {
  const [a, b] = await startBackends(t, (req, res, backend) => {
    req.resume();
    res.statusCode = req.url === '/missing' ? 404 : 200;
    res.end(backend.name);
  }, ['a', 'b']);
  const lb = await startWithAdmin({ BACKENDS: `${a!.url}|id=a,${b!.url}|id=b|weight=2` });
  t.after(() => lb.stop());
  for (let i = 0; i < 10; i++) await get(lb.url);
  for (let i = 0; i < 4; i++) await get(`${lb.url}/missing`);
  assert.equal((await get(lb.url, { method: 'OPTIONS', path: '*' })).status, 200); // answered by the balancer itself
  const text = (await api(lb.admin, 'GET', '/metrics', undefined, {})).text;
  const ok = (metric(text, 'lb_requests_total{backend="a",code="2xx",pool="default",route=""}') ?? 0) + (metric(text, 'lb_requests_total{backend="b",code="2xx",pool="default",route=""}') ?? 0);
  const notFound = (metric(text, 'lb_requests_total{backend="a",code="4xx",pool="default",route=""}') ?? 0) + (metric(text, 'lb_requests_total{backend="b",code="4xx",pool="default",route=""}') ?? 0);
  assert.deepEqual([ok, notFound], [10, 4]);
  assert.equal(metric(text, 'lb_requests_total{backend="none",code="2xx",pool="default",route=""}'), 1);
  assert.equal(metric(text, 'lb_request_duration_seconds_count{backend="a",pool="default",route=""}')! + metric(text, 'lb_request_duration_seconds_count{backend="b",pool="default",route=""}')!, 14);
  assert.equal(metric(text, 'lb_request_duration_seconds_bucket{backend="a",pool="default",route="",le="+Inf"}'), metric(text, 'lb_request_duration_seconds_count{backend="a",pool="default",route=""}'));
  assert.equal(metric(text, 'lb_backend_up{backend="a",pool="default"}'), 1);
  assert.equal(metric(text, 'lb_backend_weight{backend="b",pool="default"}'), 2);
  assert.equal(metric(text, 'lb_backend_in_flight{backend="a",pool="default"}'), 0);
  assert.equal(metric(text, 'lb_health_checks_total{backend="a",pool="default",result="passed"}'), 1);
  for (const name of ['lb_retries_total', 'lb_queue_length', 'lb_client_connections', 'lb_log_lines_dropped_total', 'lb_config_reloads_total{result="success"}',
    'lb_ejections_total{backend="a",pool="default"}', 'process_cpu_seconds_total', 'nodejs_heap_size_used_bytes']) {
    assert.notEqual(metric(text, name), undefined, name);
  }
  const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (promtool.error !== undefined) {
    // CI installs it (.ci/run): there, the lint must run.
    assert.notEqual(process.env.CI, 'true', 'promtool is required in CI');
    t.diagnostic('promtool is not installed (apt-get install prometheus): exposition not linted');
  } else {
    assert.equal(promtool.status, 0, promtool.stdout + promtool.stderr);
    assert.equal((promtool.stdout + promtool.stderr).trim(), '');
  }
});

test('/api/config redacts secrets; /api/events lists health flips and admin changes with times', async (t) => {
  const [a] = await startBackends(t, undefined, ['a']);
  const lb = await startWithAdmin({ BACKENDS: a!.url, ADMIN_TOKEN: TOKEN, STICKY_COOKIE: 'lb', STICKY_SECRET: 'a-sticky-secret-of-some-length' });
  t.after(() => lb.stop());
  const config = await api(lb.admin, 'GET', '/api/config');
  assert.equal(config.body.admin.token, '[redacted]');
  assert.equal(config.body.sticky.secret, '[redacted]');
  assert.doesNotMatch(config.text, new RegExp(TOKEN));
  await api(lb.admin, 'PATCH', `/api/backends/127.0.0.1:${a!.port}`, { weight: 4 });
  const events = (await api(lb.admin, 'GET', '/api/events?limit=10')).body.events;
  assert.deepEqual(events.map((e: any) => [e.kind, e.message]), [['health', 'up'], ['weight', 'weight 4']]);
  assert.ok(events.every((e: any) => typeof e.time === 'number' && e.time > 1.7e12));
  assert.equal((await api(lb.admin, 'GET', '/api/events?limit=zero')).status, 400);
});

test('STATE_FILE: changes made through the API survive a restart; a corrupt file stops start-up (exit 2)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lb-state-'));
  const stateFile = join(dir, 'state.json');
  const [a, b] = await startBackends(t, undefined, ['a', 'b']);
  const c = await startBackend('c');
  t.after(() => c.close());
  const env = { BACKENDS: `${a!.url}|id=a,${b!.url}|id=b`, ADMIN_TOKEN: TOKEN, STATE_FILE: stateFile, STRATEGY: 'weighted-round-robin' };
  const first = await startWithAdmin(env);
  await api(first.admin, 'POST', '/api/backends', { url: c.url, id: 'c', weight: 2 });
  await api(first.admin, 'PATCH', '/api/backends/a', { weight: 5 });
  await api(first.admin, 'PATCH', '/api/backends/b', { state: 'maintenance' });
  const saved = JSON.parse(readFileSync(stateFile, 'utf8'));
  assert.deepEqual(saved, { version: 2, pools: { default: { added: [{ id: 'c', url: c.url, weight: 2 }], removed: [], weights: { a: 5 }, maintenance: ['b'] } } });
  await api(first.admin, 'DELETE', '/api/backends/b');
  await first.waitForLog((l) => l.msg === 'backend removed');
  await first.stop();

  const second = await startWithAdmin(env);
  t.after(() => second.stop());
  const backends = (await api(second.admin, 'GET', '/api/backends')).body.backends;
  assert.deepEqual(backends.map((x: any) => [x.id, x.weight, x.state]), [['a', 5, 'up'], ['c', 2, 'up']]);

  writeFileSync(stateFile, '{"version": 1, "added": [{"url": "gopher://x"}]}');
  const corrupt = await runLb({ ...env, ADMIN_PORT: '0' });
  assert.equal(corrupt.code, 2);
  assert.match(corrupt.stderr, /invalid STATE_FILE ".*state\.json".*fix or delete the file/);
});

test('reload (SIGHUP, POST /api/reload, a changed config file): the pool is diffed, an invalid file changes nothing and is counted', async (t) => {
  const [a, b, c] = await startBackends(t, undefined, ['a', 'b', 'c']);
  const dir = mkdtempSync(join(tmpdir(), 'lb-reload-'));
  const file = join(dir, 'lb.yaml');
  const write = (backends: string[], extra = ''): void => writeFileSync(file, `backends:\n${backends.map((x) => `  - ${x}\n`).join('')}strategy: weighted-round-robin\n${extra}`);
  write([`${a!.url}|id=a`, `${b!.url}|id=b`]);
  const running = await startLb({ ADMIN_PORT: '0', ADMIN_TOKEN: TOKEN, HEALTH_CHECK_PATH: '/health' }, { args: ['--config', file] });
  t.after(() => running.stop());
  const admin = `http://127.0.0.1:${(await running.waitForLog((l) => l.msg === 'admin listening')).port as number}`;
  const ids = async (): Promise<string[]> => (await api(admin, 'GET', '/api/backends')).body.backends.map((x: any) => `${x.id}:${x.weight}`);
  assert.deepEqual(await ids(), ['a:1', 'b:1']);

  write([`${a!.url}|id=a|weight=3`, `${c!.url}|id=c`]);
  running.proc.kill('SIGHUP');
  await running.waitForLog((l) => l.msg === 'configuration reloaded');
  await running.waitForLog((l) => l.msg === 'backend removed' && l.backend === 'b');
  assert.deepEqual(await ids(), ['a:3', 'c:1']);

  write(['gopher://nope']);
  const invalid = await api(admin, 'POST', '/api/reload');
  assert.equal(invalid.status, 400);
  assert.match(invalid.body.error.message, /gopher/);
  assert.deepEqual(await ids(), ['a:3', 'c:1']);

  write([`${a!.url}|id=a|weight=3`, `${c!.url}|id=c`], 'proxy:\n  connectTimeout: 2s\n');
  const ok = await api(admin, 'POST', '/api/reload');
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.body.needRestart, ['CONNECT_TIMEOUT']);
  await running.waitForLog((l) => l.msg?.startsWith('changed settings that take effect only after a restart') === true);

  // The file itself changing is a reload too.
  write([`${a!.url}|id=a|weight=3`, `${b!.url}|id=b`, `${c!.url}|id=c`], 'proxy:\n  connectTimeout: 2s\n');
  await running.waitForLog((l) => l.msg === 'configuration reloaded' && JSON.stringify(l.changes).includes('added b'));
  const text = (await api(admin, 'GET', '/metrics', undefined, {})).text;
  // Each write is also seen by the file watcher, which reloads on its own a second or so later:
  // on a busy machine it may read a file the test has not replaced yet. Every reload is counted once.
  const failed = running.logs.filter((l) => l.msg === 'configuration reload failed: keeping the current one').length;
  const succeeded = running.logs.filter((l) => l.msg === 'configuration reloaded').length;
  assert.ok(failed >= 1 && succeeded >= 3, `${failed} failed and ${succeeded} succeeded`);
  assert.equal(metric(text, 'lb_config_reloads_total{result="failure"}'), failed);
  assert.equal(metric(text, 'lb_config_reloads_total{result="success"}'), succeeded);
});

test('10 reloads that add, remove and reweight backends under 4 looping clients: no failed request, no dropped connection', async (t) => {
  const backends = await startBackends(t, undefined, ['a', 'b', 'c', 'd']);
  const dir = mkdtempSync(join(tmpdir(), 'lb-reload-'));
  const file = join(dir, 'lb.json');
  const write = (list: TestBackend[], weights: number[]): void => writeFileSync(file, JSON.stringify({
    backends: list.map((x, i) => ({ url: x.url, id: x.name, weight: weights[i] ?? 1 })),
  }));
  write(backends.slice(0, 2), [1, 1]);
  const lb = await startLb({ ADMIN_PORT: '0', ADMIN_TOKEN: TOKEN, HEALTH_CHECK_PATH: '/health', STRATEGY: 'weighted-round-robin' }, { args: ['--config', file] });
  t.after(() => lb.stop());
  const admin = `http://127.0.0.1:${(await lb.waitForLog((l) => l.msg === 'admin listening')).port as number}`;
  const { Agent, request } = await import('undici');
  const agent = new Agent({ connections: 4 });
  t.after(() => agent.close());
  const failures: string[] = [];
  let served = 0;
  let running = true;
  const clients = Array.from({ length: 4 }, async () => {
    for (let i = 0; running && i < 100_000; i++) {
      try {
        const res = await request(lb.url, { dispatcher: agent });
        const body = await res.body.text();
        if (res.statusCode !== 200) failures.push(`${res.statusCode} ${body}`);
        else served++;
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  });
  const plans: [number[], number[]][] = [
    [[0, 1, 2], [1, 1, 1]], [[1, 2], [2, 1]], [[1, 2, 3], [1, 3, 1]], [[3], [1]], [[0, 3], [2, 2]],
    [[0, 1, 2, 3], [1, 1, 1, 1]], [[2, 3], [5, 1]], [[0], [1]], [[0, 1], [3, 1]], [[0, 1, 2, 3], [1, 2, 3, 4]],
  ];
  for (const [picks, weights] of plans) {
    write(picks.map((i) => backends[i]!), weights);
    const res = await api(admin, 'POST', '/api/reload');
    assert.equal(res.status, 200, res.text);
    const want = picks.map((i, k) => `${backends[i]!.name}:${weights[k]}`);
    // The new backends are checked before they get traffic; the removed ones drain.
    for (let i = 0; i < 200; i++) {
      const now = (await api(admin, 'GET', '/api/backends')).body.backends;
      if (now.length === picks.length && now.every((x: any) => x.state === 'up')) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    const now = (await api(admin, 'GET', '/api/backends')).body.backends.map((x: any) => `${x.id}:${x.weight}`);
    assert.deepEqual(now.sort(), [...want].sort());
    const before = served;
    while (served < before + 20) await new Promise((r) => setTimeout(r, 5));
  }
  running = false;
  await Promise.all(clients);
  t.diagnostic(`${served} requests over 10 reloads`);
  assert.deepEqual(failures, []);
  assert.equal(lb.logs.filter((l) => l.msg === 'request' && l.status !== 200).length, 0);
});

test('WORKERS=2: the admin listener is the primary\'s; a change reaches every worker before the API answers; /metrics sums the workers', async (t) => {
  const [a, b] = await startBackends(t, undefined, ['a', 'b']);
  // The primary checks both backends before the workers start; on a busy machine the default 1 s check timeout could mark one down.
  const lb = await startWithAdmin({ BACKENDS: `${a!.url}|id=a,${b!.url}|id=b`, ADMIN_TOKEN: TOKEN, WORKERS: '2', HEALTH_CHECK_TIMEOUT: '10s' });
  t.after(() => lb.stop());
  const listening = await lb.waitForLog((l) => l.msg === 'listening');
  assert.deepEqual([listening.workers, listening.available], [2, 2]);
  assert.equal(lb.logs.filter((l) => l.msg === 'admin listening').length, 1);
  for (let round = 0; round < 3; round++) {
    const off = round % 2 === 0 ? 'a' : 'b';
    const on = off === 'a' ? 'b' : 'a';
    assert.equal((await api(lb.admin, 'PATCH', `/api/backends/${off}`, { state: 'maintenance' })).status, 200);
    // At once, on new connections spread over both workers: none goes to the backend just taken out.
    for (let i = 0; i < 10; i++) {
      const res = await get(lb.url);
      assert.equal(res.body, on, `round ${round}, request ${i}`);
    }
    assert.equal((await api(lb.admin, 'PATCH', `/api/backends/${off}`, { state: 'up' })).status, 200);
  }
  const text = (await api(lb.admin, 'GET', '/metrics', undefined, {})).text;
  const total = (metric(text, 'lb_requests_total{backend="a",code="2xx",pool="default",route=""}') ?? 0) + (metric(text, 'lb_requests_total{backend="b",code="2xx",pool="default",route=""}') ?? 0);
  assert.equal(total, 30, 'both workers\' requests, summed');
  assert.equal(metric(text, 'lb_request_duration_seconds_count{backend="a",pool="default",route=""}')! + metric(text, 'lb_request_duration_seconds_count{backend="b",pool="default",route=""}')!, 30);
  // Each worker served some: the access lines carry the worker's number (written a little after the answers).
  await lb.waitForLog(() => lb.logs.filter((l) => l.msg === 'request').length >= 30);
  const workers = new Set(lb.logs.filter((l) => l.msg === 'request').map((l) => l.worker));
  assert.equal(workers.size, 2);
  assert.notEqual(metric(text, 'process_cpu_seconds_total'), undefined);
  const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (promtool.error === undefined) assert.equal((promtool.stdout + promtool.stderr).trim(), '');
});

test('a reload changes PROXY_TIMEOUT and the strategy for the requests that follow', async (t) => {
  const hang = await startBackend('hang', (req, res) => { req.resume(); if (req.url === '/health' || req.url === '/') res.end('hang'); });
  t.after(() => hang.close());
  const [b] = await startBackends(t, undefined, ['b']);
  const dir = mkdtempSync(join(tmpdir(), 'lb-reload-'));
  const file = join(dir, 'lb.yaml');
  writeFileSync(file, `backends:\n  - ${hang.url}|id=hang\nproxy:\n  timeout: 1h\n`);
  const lb = await startLb({ ADMIN_PORT: '0', ADMIN_TOKEN: TOKEN, HEALTH_CHECK_PATH: '/health', RETRIES: '0' }, { args: ['--config', file] });
  t.after(() => lb.stop());
  const admin = `http://127.0.0.1:${(await lb.waitForLog((l) => l.msg === 'admin listening')).port as number}`;
  writeFileSync(file, `backends:\n  - ${hang.url}|id=hang\n  - ${b!.url}|id=b|weight=3\nstrategy: weighted-round-robin\nproxy:\n  timeout: 2s\n`);
  const res = await api(admin, 'POST', '/api/reload');
  assert.deepEqual([res.status, res.body.needRestart], [200, []]);
  await lb.waitForLog((l) => l.msg === 'backend is up' && l.backend === 'b');
  // One in four goes to `hang`, which never answers /never: without the new timeout it would wait an hour.
  // (2 s, not less: on a busy machine `b` itself can take a few hundred milliseconds to answer.)
  const answers: string[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await get(`${lb.url}/never`);
    answers.push(r.status === 504 ? '504' : r.body);
  }
  assert.deepEqual(answers.sort(), ['504', 'b', 'b', 'b'], 'weighted round robin 3:1, and PROXY_TIMEOUT 2s');
});

/** Reads server-sent events from the admin listener until `until` says enough (or 20 s pass). */
async function streamEvents(base: string, until: (events: { event: string; data: any }[]) => boolean): Promise<{ event: string; data: any }[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 20_000);
  const res = await fetch(`${base}/api/stream`, { headers: AUTH, signal: controller.signal });
  assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  const events: { event: string; data: any }[] = [];
  let buffer = '';
  try {
    for await (const chunk of res.body!.pipeThrough(new TextDecoderStream()) as unknown as AsyncIterable<string>) {
      buffer += chunk;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const lines = buffer.slice(0, end).split('\n');
        buffer = buffer.slice(end + 2);
        events.push({ event: lines[0]!.slice(7), data: JSON.parse(lines[1]!.slice(6)) });
      }
      if (until(events)) break;
    }
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return events;
}

test('/api/stream: a snapshot, then a sample each second with rates per backend; a burst of retries is an event', async (t) => {
  const [a, b] = await startBackends(t, undefined, ['a', 'b'], { port: 'dedicated' });
  const lb = await startWithAdmin({ BACKENDS: `${a!.url}|id=a,${b!.url}|id=b`, ADMIN_TOKEN: TOKEN, OUTLIER_CONSECUTIVE_FAILURES: '0' });
  t.after(() => lb.stop());
  assert.equal((await api(lb.admin, 'GET', '/api/stream', undefined, {})).status, 401);
  await b!.close(); // refuses from now on, but the checks (every hour) still say it is up: every other request is retried
  // Four clients, 50 requests each: half of them retried, well over 5 a second on a busy machine.
  const sending = Promise.all(Array.from({ length: 4 }, async () => { for (let i = 0; i < 50; i++) assert.equal((await get(lb.url)).body, 'a'); }));
  const events = await streamEvents(lb.admin, (es) => es.some((e) => e.event === 'event' && e.data.kind === 'retries'));
  await sending;
  assert.equal(events[0]!.event, 'snapshot');
  assert.equal(events[0]!.data.info.strategy, 'round-robin');
  assert.equal(events[0]!.data.info.tokenRequired, true);
  const samples = events.filter((e) => e.event === 'sample').map((e) => e.data);
  assert.ok(samples.some((s) => s.rps > 0 && s.retries > 0));
  assert.deepEqual(samples[0].backends.map((x: any) => x.id), ['a', 'b']);
  const spike = events.find((e) => e.event === 'event' && e.data.kind === 'retries')!;
  assert.match(spike.data.message, /^\d+ retries in one second/);
});

test('/api/stream with WORKERS=2: the primary\'s samples add up both workers', async (t) => {
  const [a] = await startBackends(t, undefined, ['a']);
  const lb = await startWithAdmin({ BACKENDS: `${a!.url}|id=a`, ADMIN_TOKEN: TOKEN, WORKERS: '2' });
  t.after(() => lb.stop());
  await lb.waitForLog((l) => l.msg === 'listening');
  // Every request of both workers, counted once: the snapshot's history, then samples as they come.
  const answeredIn = (es: { event: string; data: any }[]): number => {
    const samples = es.flatMap((e) => (e.event === 'snapshot' ? e.data.samples : e.event === 'sample' ? [e.data] : []));
    return samples.reduce((n: number, s: any, i: number) => n + s.classes[1] * (i === 0 ? 1 : (s.time - samples[i - 1].time) / 1000), 0);
  };
  // Rates start after the sampler's first reading: the requests go once a sample has come (on a
  // busy machine a worker may answer the first reading late, after the other served requests).
  let sending: Promise<void> | undefined;
  const events = await streamEvents(lb.admin, (es) => {
    if (sending === undefined && es.some((e) => e.event === 'sample')) {
      sending = (async () => { for (let i = 0; i < 40; i++) await get(lb.url); })(); // new connections: both workers serve
    }
    return answeredIn(es) >= 39;
  });
  await sending;
  assert.equal(events[0]!.data.info.workers, 2);
  const answered = answeredIn(events);
  assert.ok(Math.abs(answered - 40) <= 1, `about 40 answers in the samples (${answered})`);
  await lb.waitForLog(() => lb.logs.filter((l) => l.msg === 'request').length >= 40); // access lines follow the answers
  const workers = new Set(lb.logs.filter((l) => l.msg === 'request').map((l) => l.worker));
  assert.equal(workers.size, 2);
});
