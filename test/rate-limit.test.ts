import assert from 'node:assert/strict';
import { connect, type IncomingHttpHeaders } from 'node:http2';
import { test } from 'node:test';
import { startBackend, type TestBackend } from './helpers/backend.js';
import { get, type Response } from './helpers/http.js';
import { startInProcess, type InProcessLb } from './helpers/in-process-lb.js';
import { startLb } from './helpers/lb.js';

/**
 * Rates of a few per hour: no request gets a token back while a test runs, so the counts of 200
 * and 429 are exact whatever the machine's pace (one token every 12 minutes at 5/h).
 */
async function backend(t: { after(fn: () => unknown): void }): Promise<TestBackend> {
  const b = await startBackend('b1');
  t.after(() => b.close());
  return b;
}

async function send(lb: InProcessLb, n: number, path = '/', headers: Record<string, string> = {}): Promise<Response[]> {
  const out: Response[] = [];
  for (let i = 0; i < n; i++) out.push(await get(`${lb.url}${path}`, { headers }));
  return out;
}

const statuses = (rs: readonly Response[]): number[] => rs.map((r) => r.status);

test('RATE_LIMIT enforced: the burst gets through with RateLimit headers, the rest 429 with Retry-After, an access line and a counter', async (t) => {
  const b = await backend(t);
  const lb = await startInProcess({ BACKENDS: b.url, RATE_LIMIT: '5/h', RATE_LIMIT_BURST: '5' }, t);
  const checks = b.requests.length;
  const rs = await send(lb, 8);
  assert.deepEqual(statuses(rs), [200, 200, 200, 200, 200, 429, 429, 429]);
  assert.deepEqual(rs.slice(0, 5).map((r) => /^"default";r=(\d+);t=(\d+)$/.exec(String(r.headers.ratelimit))?.[1]), ['4', '3', '2', '1', '0'], 'what is left, on each answer under the limit');
  assert.equal(rs[0]!.headers['ratelimit-policy'], undefined, 'the policy is told with refusals');
  for (const r of rs.slice(5)) {
    const retry = Number(r.headers['retry-after']);
    // One token every 720 s; a little of it has passed since the burst.
    assert.ok(retry >= 700 && retry <= 720, `Retry-After ${retry}`);
    assert.equal(r.headers['ratelimit-policy'], '"default";q=5;w=3600');
    assert.equal(r.headers.ratelimit, `"default";r=0;t=${retry}`);
    assert.equal(r.body, '429 Too Many Requests\n');
  }
  await lb.waitForLog((l) => l.msg === 'request' && l.status === 429);
  const refusals = lb.logs.filter((l) => l.msg === 'request' && l.status === 429);
  assert.equal(refusals.length, 3);
  for (const line of refusals) {
    assert.equal(line.error, 'LB_ERR_RATE_LIMITED');
    assert.equal(line.policy, 'rate-limit');
  }
  assert.equal(lb.logs.filter((l) => l.msg === 'request' && l.policy !== undefined).length, 3, 'only refusals name a policy');
  const metrics = await lb.lb.metrics.text();
  assert.match(metrics, /^lb_policy_refusals_total\{policy="rate-limit",route=""\} 3$/m);
  assert.equal(b.requests.length - checks, 5, 'refused requests never reach the backend');
});

test('RATE_LIMIT_MODE=shadow lets everything through, counts what it would have refused and logs it once a second, not per request', async (t) => {
  const b = await backend(t);
  const lb = await startInProcess({ BACKENDS: b.url, RATE_LIMIT: '2/h', RATE_LIMIT_BURST: '2', RATE_LIMIT_MODE: 'shadow' }, t);
  const checks = b.requests.length;
  const rs = await send(lb, 6);
  assert.deepEqual(statuses(rs), [200, 200, 200, 200, 200, 200]);
  for (const r of rs) assert.equal(r.headers.ratelimit, undefined, 'a shadow limit is not told to clients');
  assert.equal(b.requests.length - checks, 6);
  const warn = await lb.waitForLog((l) => l.code === 'LB_ERR_RATE_LIMITED');
  assert.equal(warn.mode, 'shadow');
  assert.equal(warn.key, '127.0.0.1');
  // Four would have been refused; unless the machine took a second between them, one line says so.
  const warnings = lb.logs.filter((l) => l.code === 'LB_ERR_RATE_LIMITED');
  assert.ok(warnings.length >= 1 && warnings.length <= 4);
  assert.equal(lb.logs.filter((l) => l.msg === 'request' && l.policy !== undefined).length, 0, 'nothing was refused');
  const metrics = await lb.lb.metrics.text();
  assert.match(metrics, /^lb_rate_limit_shadow_total\{route=""\} 4$/m);
  assert.doesNotMatch(metrics, /^lb_policy_refusals_total\{/m);
});

test('RATE_LIMIT_KEY=header:NAME counts each value apart; requests without the header share one count', async (t) => {
  const b = await backend(t);
  const lb = await startInProcess({ BACKENDS: b.url, RATE_LIMIT: '2/h', RATE_LIMIT_BURST: '2', RATE_LIMIT_KEY: 'header:X-Api-Key' }, t);
  assert.deepEqual(statuses(await send(lb, 3, '/', { 'x-api-key': 'alice' })), [200, 200, 429]);
  assert.deepEqual(statuses(await send(lb, 3, '/', { 'x-api-key': 'bob' })), [200, 200, 429]);
  assert.deepEqual(statuses(await send(lb, 3)), [200, 200, 429]);
  assert.deepEqual(statuses(await send(lb, 1, '/', { 'x-api-key': 'alice' })), [429]);
});

test('RATE_LIMIT_KEY=cookie:NAME counts by the cookie\'s value, found among the others', async (t) => {
  const b = await backend(t);
  const lb = await startInProcess({ BACKENDS: b.url, RATE_LIMIT: '1/h', RATE_LIMIT_KEY: 'cookie:sid' }, t);
  assert.deepEqual(statuses(await send(lb, 2, '/', { cookie: 'theme=dark; sid=one' })), [200, 429]);
  assert.deepEqual(statuses(await send(lb, 2, '/', { cookie: 'sid=two; theme=dark' })), [200, 429]);
  assert.deepEqual(statuses(await send(lb, 1, '/', { cookie: 'xsid=one' })), [200], 'xsid is another cookie: no sid, the shared count');
});

test('a route\'s RateLimit filter overrides RATE_LIMIT on that route, with its own table and name; other routes keep the global limit', async (t) => {
  const b = await backend(t);
  const lb = await startInProcess({ BACKENDS: b.url, RATE_LIMIT: '3/h', RATE_LIMIT_BURST: '3' }, t, () => ({
    pools: { app: { backends: [b.url] } },
    routes: [
      { name: 'tight', matches: [{ path: { type: 'PathPrefix', value: '/tight' } }], filters: [{ type: 'RateLimit', rateLimit: { rate: '2/h', burst: 2 } }], backendRefs: [{ name: 'app' }] },
      { name: 'shadowed', matches: [{ path: { type: 'PathPrefix', value: '/shadowed' } }], filters: [{ type: 'RateLimit', rateLimit: { rate: '1/h', mode: 'shadow' } }], backendRefs: [{ name: 'app' }] },
      { name: 'rest', backendRefs: [{ name: 'app' }] },
    ],
  }));
  const tight = await send(lb, 4, '/tight');
  assert.deepEqual(statuses(tight), [200, 200, 429, 429]);
  assert.match(String(tight[0]!.headers.ratelimit), /^"tight";r=1;t=\d+$/);
  assert.equal(tight[2]!.headers['ratelimit-policy'], '"tight";q=2;w=3600');
  // The global limit's table is not the route's: three more from the same client on another route.
  assert.deepEqual(statuses(await send(lb, 4, '/other')), [200, 200, 200, 429]);
  assert.deepEqual(statuses(await send(lb, 3, '/shadowed')), [200, 200, 200]);
  const metrics = await lb.lb.metrics.text();
  assert.match(metrics, /^lb_policy_refusals_total\{policy="rate-limit",route="tight"\} 2$/m);
  assert.match(metrics, /^lb_policy_refusals_total\{policy="rate-limit",route="rest"\} 1$/m);
  assert.match(metrics, /^lb_rate_limit_shadow_total\{route="shadowed"\} 2$/m);
  const line = lb.logs.find((l) => l.msg === 'request' && l.status === 429 && l.route === 'tight');
  assert.equal(line?.policy, 'rate-limit');
});

test('a gRPC call beyond the limit gets RESOURCE_EXHAUSTED (HTTP/2 with prior knowledge on the plain port)', async (t) => {
  const b = await backend(t);
  const lb = await startInProcess({ BACKENDS: b.url, RATE_LIMIT: '1/h' }, t);
  const session = connect(lb.url);
  t.after(() => session.close());
  const call = (): Promise<IncomingHttpHeaders> => new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ':path': '/pkg.Svc/Call', 'content-type': 'application/grpc', te: 'trailers' });
    stream.on('error', reject);
    stream.on('response', (headers) => { stream.resume(); resolve(headers); });
    stream.end(Buffer.alloc(5));
  });
  assert.notEqual((await call())['grpc-status'], '8', 'the first call is under the limit');
  const refused = await call();
  assert.equal(refused[':status'], 200);
  assert.equal(refused['grpc-status'], '8');
  const line = await lb.waitForLog((l) => l.msg === 'request' && l.policy === 'rate-limit');
  assert.equal(line.grpcStatus, 8);
  assert.equal(line.error, 'LB_ERR_RATE_LIMITED');
});

test('a RateLimit filter with a bad rate or key is a configuration error that names the field', async () => {
  await assert.rejects(startInProcess({}, undefined, () => ({
    pools: { app: { backends: ['http://127.0.0.1:1'] } },
    routes: [{ name: 'r', filters: [{ type: 'RateLimit', rateLimit: { rate: '10/ms' } }], backendRefs: [{ name: 'app' }] }],
  })), /filters\[0\]\.rateLimit\.rate.*a rate such as 100\/s/);
  await assert.rejects(startInProcess({}, undefined, () => ({
    pools: { app: { backends: ['http://127.0.0.1:1'] } },
    routes: [{ name: 'r', filters: [{ type: 'RateLimit', rateLimit: { rate: '10/s', key: 'body' } }], backendRefs: [{ name: 'app' }] }],
  })), /filters\[0\]\.rateLimit\.key.*ip, route, header:<name>, cookie:<name>, tlv:<type> or jwt:<claim>/);
  await assert.rejects(startInProcess({ RATE_LIMIT: '10' }), /RATE_LIMIT .*a rate such as 100\/s/);
});

test('WORKERS=2: the limit holds for the group (the primary decides): 1000 requests on new connections, the burst admitted within 5%', async (t) => {
  const b = await backend(t);
  const lb = await startLb({ BACKENDS: b.url, RATE_LIMIT: '500/h', RATE_LIMIT_BURST: '500', WORKERS: '2', ADMIN_PORT: '0' });
  t.after(() => lb.stop());
  const admin = `http://127.0.0.1:${(await lb.waitForLog((l) => l.msg === 'admin listening')).port as number}`;
  const counts = new Map<number, number>();
  // A new connection each (no agent): the kernel and node:cluster spread them over both workers.
  for (let i = 0; i < 1000; i++) {
    const status = (await get(lb.url)).status;
    counts.set(status, (counts.get(status) ?? 0) + 1);
  }
  // One token back every 7.2 s: a run slower than that may admit one more per 7.2 s.
  const admitted = counts.get(200) ?? 0;
  t.diagnostic(`admitted ${admitted} of 1000, refused ${counts.get(429) ?? 0}`);
  assert.ok(admitted >= 500 && admitted <= 525, `admitted ${admitted} of 1000 at a burst of 500 (within 5%)`);
  assert.equal(admitted + (counts.get(429) ?? 0), 1000);
  const workers = new Set(lb.logs.filter((l) => l.msg === 'request').map((l) => l.worker));
  assert.equal(workers.size, 2, 'both workers served requests');
  const metrics = (await get(`${admin}/metrics`)).body;
  assert.match(metrics, new RegExp(`^lb_policy_refusals_total\\{policy="rate-limit",route=""\\} ${1000 - admitted}$`, 'm'));
});

test('WORKERS=1 (one worker, so one count) enforces the limit, and the primary\'s /metrics has the worker\'s refusals', async (t) => {
  const b = await backend(t);
  const lb = await startLb({ BACKENDS: b.url, RATE_LIMIT: '2/h', RATE_LIMIT_BURST: '2', WORKERS: '1', ADMIN_PORT: '0' });
  t.after(() => lb.stop());
  const admin = `http://127.0.0.1:${(await lb.waitForLog((l) => l.msg === 'admin listening')).port as number}`;
  const rs: number[] = [];
  for (let i = 0; i < 3; i++) rs.push((await get(lb.url)).status);
  assert.deepEqual(rs, [200, 200, 429]);
  const metrics = (await get(`${admin}/metrics`)).body;
  assert.match(metrics, /^lb_policy_refusals_total\{policy="rate-limit",route=""\} 1$/m);
});
