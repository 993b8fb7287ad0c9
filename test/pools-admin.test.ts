// @engine-independent: the admin API's pools and routes, and what access lines and metrics say of pools
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { adminApi, type ApiResponse } from './helpers/admin-api.js';
import { get } from './helpers/http.js';
import { startBackends } from './helpers/backend.js';
import { startInProcess, type InProcessLb } from './helpers/in-process-lb.js';

const TOKEN = 'pools-token-0123456789';
const AUTH = { authorization: `Bearer ${TOKEN}` };

function api(lb: InProcessLb, method: string, path: string, body?: unknown): Promise<ApiResponse> {
  const admin = lb.lb.adminAddress!;
  return adminApi(`http://127.0.0.1:${admin.port}`, method, path, body, AUTH);
}

/** A metric's value in a Prometheus text exposition, by name and exact label set text. */
function metric(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** A route as a config file gives it (route parsing fills no defaults yet: every field is given). */
const ROUTE = {
  name: 'api-v1',
  hostnames: ['api.example.com'],
  matches: [{ path: { type: 'PathPrefix', value: '/v1' }, headers: [], queryParams: [] }],
  filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [], add: [], remove: ['x-debug'] } }],
  backendRefs: [{ name: 'api', weight: 90 }, { name: 'web', weight: 10 }],
};

test('/api/pools lists every pool; /api/pools/NAME/backends/... changes that pool only, as /api/backends does the default; /api/routes; 404 for an unknown pool', async (t) => {
  const [a, b, c, d] = await startBackends(t, undefined, ['a', 'b', 'c', 'd']);
  const lb = await startInProcess({ BACKENDS: `${a!.url}|id=a`, ADMIN_PORT: '0', ADMIN_TOKEN: TOKEN }, t, () => ({
    pools: { api: { backends: [`${b!.url}|id=a`], strategy: 'least-connections', retry: { retries: 0 } }, web: { backends: [`${c!.url}|id=w`] } },
    routes: [ROUTE],
  }));
  const pools = await api(lb, 'GET', '/api/pools');
  assert.equal(pools.status, 200);
  assert.deepEqual(pools.body.pools.map((p: { name: string; default: boolean; strategy: string; backends: number; available: number }) => [p.name, p.default, p.strategy, p.backends, p.available]),
    [['default', true, 'round-robin', 1, 1], ['api', false, 'least-connections', 1, 1], ['web', false, 'round-robin', 1, 1]]);
  assert.equal(pools.body.pools[1].settings.retries, 0, 'the pool\'s own settings');
  assert.equal(pools.body.pools[0].settings.retries, 2, 'the default\'s');
  const one = await api(lb, 'GET', '/api/pools/api');
  assert.deepEqual([one.status, one.body.name, one.body.backends], [200, 'api', 1]);

  for (const path of ['/api/pools/nope', '/api/pools/nope/backends', '/api/pools/nope/backends/a']) {
    const missing = await api(lb, 'GET', path);
    assert.deepEqual([missing.status, missing.body.error.code], [404, 'no_such_pool'], path);
    assert.match(missing.body.error.message, /no pool named "nope": expected one of default, api, web/);
  }
  assert.equal((await api(lb, 'GET', '/api/pools/api/other')).status, 404);

  // The same id in two pools: each pool's backends are its own.
  assert.deepEqual((await api(lb, 'GET', '/api/pools/api/backends')).body.backends.map((x: { id: string; url: string }) => [x.id, x.url]), [['a', b!.url]]);
  assert.deepEqual((await api(lb, 'GET', '/api/backends')).body.backends.map((x: { id: string; url: string }) => [x.id, x.url]), [['a', a!.url]]);

  const added = await api(lb, 'POST', '/api/pools/api/backends', { url: d!.url, id: 'd', weight: 2 });
  assert.deepEqual([added.status, added.body.id, added.body.weight], [201, 'd', 2]);
  assert.equal(added.body.warnings?.length, undefined, 'least-connections heeds weights');
  const api1 = lb.lb.pools.get('api')!;
  assert.deepEqual(api1.backends.map((x) => x.id), ['a', 'd']);
  assert.deepEqual(lb.lb.pool.backends.map((x) => x.id), ['a'], 'the default pool is untouched');
  assert.equal((await api(lb, 'GET', '/api/backends/d')).status, 404);
  const missingBackend = await api(lb, 'GET', '/api/pools/web/backends/d');
  assert.deepEqual([missingBackend.status, missingBackend.body.error.code], [404, 'not_found']);
  assert.match(missingBackend.body.error.message, /in pool "web"/);
  assert.equal((await api(lb, 'GET', '/api/pools/api/backends/d')).body.url, d!.url);

  const reweighted = await api(lb, 'PATCH', '/api/pools/api/backends/d', { weight: 3, state: 'maintenance' });
  assert.deepEqual([reweighted.status, reweighted.body.weight, reweighted.body.state], [200, 3, 'maintenance']);
  assert.deepEqual([api1.get('d')!.weight, api1.get('d')!.admin], [3, 'maintenance']);
  assert.equal((await api(lb, 'PATCH', '/api/pools/api/backends/d', { weight: 0 })).status, 400);
  assert.equal((await api(lb, 'PATCH', '/api/pools/api/backends/d', { state: 'up' })).body.state, 'up');

  const drained = await api(lb, 'POST', '/api/pools/api/backends/d/drain');
  assert.equal(drained.status, 202);
  assert.equal(lb.lb.pool.get('a')!.admin, 'enabled', 'the default pool\'s a is not drained');
  // Idle, it is in maintenance at once.
  assert.equal(api1.get('d')!.admin, 'maintenance');
  const removed = new Promise<string>((resolve) => {
    api1.on('change', (change: { kind: string; backend: { id: string } }) => { if (change.kind === 'removed') resolve(change.backend.id); });
  });
  assert.equal((await api(lb, 'DELETE', '/api/pools/api/backends/d')).status, 202);
  assert.equal(await removed, 'd');
  assert.deepEqual(api1.backends.map((x) => x.id), ['a']);
  assert.deepEqual(lb.lb.pools.get('web')!.backends.map((x) => x.id), ['w']);

  const routes = await api(lb, 'GET', '/api/routes');
  assert.equal(routes.status, 200);
  assert.deepEqual(routes.body.routes.map((r: Record<string, unknown>) => [r.name, r.hostnames, r.filters, r.backendRefs]),
    [['api-v1', ['api.example.com'], ['RequestHeaderModifier'], [{ name: 'api', weight: 90 }, { name: 'web', weight: 10 }]]]);
  assert.deepEqual(routes.body.routes[0].matches[0].path, { type: 'PathPrefix', value: '/v1' });
  assert.equal(typeof routes.body.table, 'string', 'the compiled table\'s description');
});

test('without routes or BACKENDS, nothing routes a request (404, no pool in its line); backend gauges per pool, the same id in two', async (t) => {
  const [a, b] = await startBackends(t, undefined, ['a', 'b']);
  const lb = await startInProcess({ ADMIN_PORT: '0', ADMIN_TOKEN: TOKEN }, t, () => ({
    pools: { api: { backends: [`${a!.url}|id=x`] }, web: { backends: [`${b!.url}|id=x|weight=4`] } },
  }));
  for (let i = 0; i < 3; i++) assert.equal((await get(lb.url)).status, 404);
  await lb.waitForLog(() => lb.logs.filter((l) => l.msg === 'request').length >= 3);
  const lines = lb.logs.filter((l) => l.msg === 'request');
  assert.deepEqual(lines.map((l) => [l.pool, l.route, l.backend, l.error]), Array(3).fill([undefined, undefined, undefined, 'LB_ERR_NO_ROUTE']));

  const text = (await api(lb, 'GET', '/metrics')).text;
  assert.equal(metric(text, 'lb_requests_total{backend="x",code="2xx",pool="api",route=""}'), undefined);
  assert.equal(metric(text, 'lb_backend_up{backend="x",pool="api"}'), 1);
  assert.equal(metric(text, 'lb_backend_up{backend="x",pool="web"}'), 1);
  assert.equal(metric(text, 'lb_backend_weight{backend="x",pool="web"}'), 4);
  assert.equal(metric(text, 'lb_backend_weight{backend="x",pool="api"}'), 1);
  assert.equal(metric(text, 'lb_health_checks_total{backend="x",pool="web",result="passed"}'), 1);
  assert.equal(metric(text, 'lb_upstream_connections{backend="x",pool="web",state="busy"}'), 0);
  assert.notEqual(metric(text, 'lb_upstream_connections{backend="x",pool="api",state="idle"}'), undefined);
  const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (promtool.error === undefined) assert.equal(`${promtool.stdout}${promtool.stderr}`.trim(), '', 'promtool finds nothing to report');
  else t.diagnostic('promtool is not installed: exposition not linted');

  // /api/backends is the first pool's when there is no default.
  assert.deepEqual((await api(lb, 'GET', '/api/backends')).body.backends.map((x: { url: string }) => x.url), [a!.url]);
  assert.deepEqual((await api(lb, 'GET', '/api/pools')).body.pools.map((p: { name: string; default: boolean }) => [p.name, p.default]), [['api', true], ['web', false]]);
});

test('with routes and a default pool, a request no route matches goes to the default: its line is as without routes, X-LB-Explain says why', async (t) => {
  const [a, b] = await startBackends(t, undefined, ['a', 'b']);
  const lb = await startInProcess({ BACKENDS: `${a!.url}|id=a`, ADMIN_PORT: '0', ADMIN_TOKEN: TOKEN }, t, () => ({
    pools: { api: { backends: [`${b!.url}|id=b`] } },
    routes: [{ ...ROUTE, backendRefs: [{ name: 'api', weight: 1 }] }],
  }));
  const res = await get(lb.url, { path: '/other', headers: { 'x-lb-explain': TOKEN } });
  assert.equal(res.body, 'a');
  const explain = JSON.parse(res.headers['x-lb-explain'] as string) as { route: string | null; why: string; pool: string };
  assert.deepEqual([explain.route, explain.why, explain.pool], [null, 'no route matched: the default pool', 'default']);
  const line = await lb.waitForLog((l) => l.msg === 'request');
  assert.deepEqual([line.backend, 'pool' in line, 'route' in line], ['a', false, false]);
  const text = (await api(lb, 'GET', '/metrics')).text;
  assert.equal(metric(text, 'lb_requests_total{backend="a",code="2xx",pool="default",route=""}'), 1);
  assert.equal(metric(text, 'lb_backend_up{backend="b",pool="api"}'), 1);
});
