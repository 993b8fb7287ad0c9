import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as h2Connect } from 'node:http2';
import { test } from 'node:test';
import { startBackend, type Handler, type TestBackend } from './helpers/backend.js';
import { get } from './helpers/http.js';
import { startInProcess, type InProcessLb } from './helpers/in-process-lb.js';
import { runLb, startLb, type LogLine } from './helpers/lb.js';

// The real client address (TRUSTED_PROXIES) and access lists (ALLOW_CIDRS, DENY_CIDRS, the
// AccessList route filter), on real sockets. Clients act as different peers by binding to other
// loopback addresses (127.0.0.2, 127.0.0.3): Linux routes all of 127.0.0.0/8 to lo.

/** Answers JSON: which backend, and the forwarding headers it got. */
const echo: Handler = (req, res, backend) => {
  req.resume();
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ name: backend.name, xff: req.headers['x-forwarded-for'], forwarded: req.headers.forwarded }));
};

interface Echo { name: string; xff: string; forwarded: string }

async function backends(t: { after(fn: () => unknown): void }, names: readonly string[]): Promise<TestBackend[]> {
  const started = await Promise.all(names.map((n) => startBackend(n, echo)));
  for (const b of started) t.after(() => b.close());
  return started;
}

/** A GET from `from` (a loopback address) with `headers`; the echo parsed when the backend answered. */
async function ask(lb: InProcessLb, path: string, from: string, headers: Record<string, string> = {}, host = '127.0.0.1'): Promise<{ status: number; body: string; echo?: Echo }> {
  const res = await get(`http://${host.includes(':') ? `[${host}]` : host}:${lb.port}${path}`, { localAddress: from, headers });
  return { status: res.status, body: res.body, echo: res.headers['content-type'] === 'application/json' ? JSON.parse(res.body) as Echo : undefined };
}

function accessLine(lb: InProcessLb, path: string): Promise<LogLine> {
  return lb.waitForLog((l) => l.msg === 'request' && l.path === path);
}

test('X-Forwarded-For from a peer that is not trusted is not believed: the access line and the appended address are the peer\'s', async (t) => {
  const [b] = await backends(t, ['a']);
  const lb = await startInProcess({ BACKENDS: b!.url, TRUSTED_PROXIES: '127.0.0.2/32' }, t);
  const res = await ask(lb, '/spoof', '127.0.0.1', { 'x-forwarded-for': '203.0.113.9', forwarded: 'for=203.0.113.9' });
  assert.equal(res.status, 200);
  assert.equal(res.echo?.xff, '203.0.113.9, 127.0.0.1', 'appended: the peer');
  assert.equal(res.echo?.forwarded, 'for=203.0.113.9, for=127.0.0.1;host="127.0.0.1:' + lb.port + '";proto=http');
  assert.equal((await accessLine(lb, '/spoof')).client, '127.0.0.1');
});

test('X-Forwarded-For and Forwarded from a trusted peer give the client: right to left, trusted hops skipped', async (t) => {
  const [b] = await backends(t, ['a']);
  const lb = await startInProcess({ BACKENDS: b!.url, TRUSTED_PROXIES: '127.0.0.0/8' }, t);
  const xff = await ask(lb, '/xff', '127.0.0.2', { 'x-forwarded-for': '198.51.100.1, 203.0.113.9, 127.0.0.3' });
  assert.equal(xff.echo?.xff, '198.51.100.1, 203.0.113.9, 127.0.0.3, 203.0.113.9', 'appended: the client address');
  assert.equal((await accessLine(lb, '/xff')).client, '203.0.113.9');
  const fwd = await ask(lb, '/forwarded', '127.0.0.3', { forwarded: 'for="[2001:db8::7]:4711";proto=https' });
  assert.match(fwd.echo!.forwarded, /^for="\[2001:db8::7\]:4711";proto=https, for="\[2001:db8::7\]";/);
  assert.equal((await accessLine(lb, '/forwarded')).client, '2001:db8::7');
  await ask(lb, '/none', '127.0.0.2');
  assert.equal((await accessLine(lb, '/none')).client, '127.0.0.2', 'no header: the peer');
});

test('DENY_CIDRS and ALLOW_CIDRS refuse with 403, LB_ERR_ACCESS_DENIED, the rule in the access line, a counter in /metrics', async (t) => {
  const [b] = await backends(t, ['a']);
  const lb = await startInProcess({ BACKENDS: b!.url, DENY_CIDRS: '127.0.0.2', ALLOW_CIDRS: '127.0.0.0/30' }, t);
  const ok = await ask(lb, '/in', '127.0.0.1');
  assert.equal(ok.status, 200);
  const denied = await ask(lb, '/denied', '127.0.0.2');
  assert.equal(denied.status, 403);
  assert.equal(denied.body, '403 Forbidden\n');
  const line = await accessLine(lb, '/denied');
  assert.equal(line.error, 'LB_ERR_ACCESS_DENIED');
  assert.equal(line.policy, 'deny 127.0.0.2');
  assert.equal(line.status, 403);
  assert.equal(line.backend, undefined, 'no backend was asked');
  const outside = await ask(lb, '/outside', '127.0.0.5');
  assert.equal(outside.status, 403);
  assert.equal((await accessLine(lb, '/outside')).policy, 'not in allow list');
  const metrics = await lb.lb.metrics.text();
  assert.match(metrics, /^lb_policy_refusals_total\{policy="access-list",route=""\} 2$/m);
});

test('access lists apply to the address a trusted proxy gives', async (t) => {
  const [b] = await backends(t, ['a']);
  const lb = await startInProcess({ BACKENDS: b!.url, TRUSTED_PROXIES: '127.0.0.2', DENY_CIDRS: '198.51.100.0/24' }, t);
  assert.equal((await ask(lb, '/proxied-bad', '127.0.0.2', { 'x-forwarded-for': '198.51.100.7' })).status, 403);
  assert.equal((await accessLine(lb, '/proxied-bad')).policy, 'deny 198.51.100.0/24');
  assert.equal((await ask(lb, '/proxied-good', '127.0.0.2', { 'x-forwarded-for': '203.0.113.7' })).status, 200);
  // Not from the trusted proxy: the claim is ignored, the peer is let in.
  assert.equal((await ask(lb, '/spoofed-good', '127.0.0.1', { 'x-forwarded-for': '198.51.100.7' })).status, 200);
});

test('access lists for IPv6: ::1 denied, 127.0.0.1 let in on a dual-stack listener', async (t) => {
  const [b] = await backends(t, ['a']);
  const lb = await startInProcess({ BACKENDS: b!.url, HOST: '::', DENY_CIDRS: '::1/128' }, t);
  const v6 = await ask(lb, '/v6', '::1', {}, '::1');
  assert.equal(v6.status, 403);
  const line = await accessLine(lb, '/v6');
  assert.equal(line.client, '::1');
  assert.equal(line.policy, 'deny ::1/128');
  assert.equal((await ask(lb, '/v4', '127.0.0.1')).status, 200);
  assert.equal((await accessLine(lb, '/v4')).client, '127.0.0.1', 'an IPv4-mapped peer is logged as IPv4');
});

test('a gRPC call refused gets a gRPC answer: PERMISSION_DENIED', async (t) => {
  const [b] = await backends(t, ['a']);
  const lb = await startInProcess({ BACKENDS: b!.url, DENY_CIDRS: '127.0.0.0/8' }, t);
  const session = h2Connect(`http://127.0.0.1:${lb.port}`);
  t.after(() => session.destroy());
  const stream = session.request({ ':method': 'POST', ':path': '/pkg.Service/Call', 'content-type': 'application/grpc', te: 'trailers' });
  stream.end(Buffer.from([0, 0, 0, 0, 0]));
  stream.resume();
  const [headers] = await once(stream, 'response') as [Record<string, string>];
  assert.equal(headers[':status'], 200);
  assert.equal(headers['grpc-status'], '7', 'PERMISSION_DENIED');
  const line = await accessLine(lb, '/pkg.Service/Call');
  assert.equal(line.error, 'LB_ERR_ACCESS_DENIED');
  assert.equal(line.grpcStatus, 7);
  assert.equal(line.policy, 'deny 127.0.0.0/8');
  session.close();
});

test('a route\'s AccessList filter replaces the global lists for that route', async (t) => {
  const [b] = await backends(t, ['a']);
  const lb = await startInProcess({ BACKENDS: b!.url, DENY_CIDRS: '127.0.0.0/8' }, t, () => ({
    routes: [
      { name: 'open', matches: [{ path: { type: 'PathPrefix', value: '/open' } }], filters: [{ type: 'AccessList', accessList: { allow: ['127.0.0.1'] } }], backendRefs: [{ name: 'default' }] },
      { name: 'closed', matches: [{ path: { type: 'PathPrefix', value: '/closed' } }], backendRefs: [{ name: 'default' }] },
    ],
  }));
  assert.equal((await ask(lb, '/open/1', '127.0.0.1')).status, 200, 'the route\'s list lets it in');
  assert.equal((await ask(lb, '/open/2', '127.0.0.2')).status, 403, 'the route\'s list does not');
  assert.equal((await accessLine(lb, '/open/2')).policy, 'not in allow list');
  assert.equal((await ask(lb, '/closed/1', '127.0.0.1')).status, 403, 'the global list');
  const closed = await accessLine(lb, '/closed/1');
  assert.equal(closed.policy, 'deny 127.0.0.0/8');
  assert.equal(closed.route, 'closed');
  assert.equal((await ask(lb, '/elsewhere', '127.0.0.1')).status, 403, 'no route matched: the global list');
  const metrics = await lb.lb.metrics.text();
  assert.match(metrics, /^lb_policy_refusals_total\{policy="access-list",route="open"\} 1$/m);
  assert.match(metrics, /^lb_policy_refusals_total\{policy="access-list",route="closed"\} 1$/m);
  assert.match(metrics, /^lb_policy_refusals_total\{policy="access-list",route=""\} 1$/m);
});

test('HASH_KEY=ip hashes the real client address, not the proxy\'s', async (t) => {
  const bs = await backends(t, ['a', 'b', 'c']);
  const lb = await startInProcess({ BACKENDS: bs.map((b) => b.url).join(','), STRATEGY: 'consistent-hash', HASH_KEY: 'ip', TRUSTED_PROXIES: '127.0.0.0/8' }, t);
  const seen = new Map<string, Set<string>>();
  for (let i = 0; i < 24; i++) {
    const client = `203.0.113.${i % 8}`;
    const res = await ask(lb, `/hash/${i}`, `127.0.0.${2 + (i % 3)}`, { 'x-forwarded-for': client });
    assert.equal(res.status, 200);
    (seen.get(client) ?? seen.set(client, new Set()).get(client)!).add(res.echo!.name);
  }
  for (const [client, names] of seen) assert.equal(names.size, 1, `${client} always goes to the same backend, whichever proxy it came through`);
  const used = new Set([...seen.values()].flatMap((s) => [...s]));
  assert.ok(used.size > 1, `eight clients spread over more than one backend (got ${[...used].join(', ')})`);
});

test('the CLI: the refusal\'s access line (the batched writer) and bad CIDRs exit 2 naming the setting', async (t) => {
  const [b] = await backends(t, ['a']);
  const lb = await startLb({ BACKENDS: b!.url, DENY_CIDRS: '127.0.0.0/8' });
  t.after(() => lb.stop());
  assert.equal((await get(`${lb.url}/cli`)).status, 403);
  const line = await lb.waitForLog((l) => l.msg === 'request' && l.path === '/cli');
  assert.equal(line.policy, 'deny 127.0.0.0/8');
  assert.equal(line.error, 'LB_ERR_ACCESS_DENIED');
  for (const [env, value] of [['TRUSTED_PROXIES', '10.0.0.1/8'], ['ALLOW_CIDRS', 'example.com'], ['DENY_CIDRS', '10.0.0.0/8,fd00::/200']] as const) {
    const run = await runLb({ BACKENDS: b!.url, [env]: value }, ['--check']);
    assert.equal(run.code, 2, `${env}=${value} exits 2`);
    assert.match(run.stderr, new RegExp(`${env}`));
    assert.match(run.stderr, /CIDR notation/);
  }
});

test('WORKERS=2: /metrics sums lb_policy_refusals_total over the workers', async (t) => {
  const [b] = await backends(t, ['a']);
  const lb = await startLb({ BACKENDS: b!.url, DENY_CIDRS: '127.0.0.2', WORKERS: '2', ADMIN_PORT: '0' });
  t.after(() => lb.stop());
  const admin = await lb.waitForLog((l) => l.msg === 'admin listening');
  await lb.waitForLog((l) => l.msg === 'listening');
  for (let i = 0; i < 6; i++) assert.equal((await get(`${lb.url}/w${i}`, { localAddress: '127.0.0.2' })).status, 403);
  assert.equal((await get(`${lb.url}/ok`)).status, 200);
  const pids = new Set<unknown>();
  for (let i = 0; i < 6; i++) pids.add((await lb.waitForLog((l) => l.msg === 'request' && l.path === `/w${i}`)).pid);
  const metrics = (await get(`http://127.0.0.1:${admin.port as number}/metrics`)).body;
  assert.match(metrics, /^lb_policy_refusals_total\{policy="access-list",route=""\} 6$/m, `summed over ${pids.size} worker(s)`);
});
