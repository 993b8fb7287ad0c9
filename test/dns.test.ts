import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { createLoadBalancer } from '../src/index.js';
import { startBackend, type TestBackend } from './helpers/backend.js';
import { TestDnsServer } from './helpers/dns-server.js';
import { get } from './helpers/http.js';
import { startInProcess, type InProcessLb } from './helpers/in-process-lb.js';
import { ENGINE_INDEPENDENT, runLb, startLb, type LogLine } from './helpers/lb.js';

type After = { after(fn: () => unknown): void };

/** Backends named by their address (127.0.0.2, .3, …), all on one port, as a headless Service's pods. */
async function startFleet(t: After, hosts: readonly string[]): Promise<{ port: number; backends: TestBackend[] }> {
  for (let attempt = 0; ; attempt++) {
    const first = await startBackend(hosts[0]!, undefined, { host: hosts[0] });
    try {
      const rest = await Promise.all(hosts.slice(1).map((h) => startBackend(h, undefined, { host: h, port: first.port })));
      const backends = [first, ...rest];
      t.after(() => Promise.all(backends.map((b) => b.close())));
      return { port: first.port, backends };
    } catch (err) {
      await first.close();
      if (attempt === 5) throw err;
    }
  }
}

async function startDns(t: After): Promise<TestDnsServer> {
  const dns = await TestDnsServer.start();
  t.after(() => dns.close());
  return dns;
}

async function adminBackends(lb: InProcessLb): Promise<{ id: string; requests: number; healthy: boolean; weight: number }[]> {
  const admin = (await lb.waitForLog((l) => l.msg === 'admin listening')).port as number;
  return JSON.parse((await get(`http://127.0.0.1:${admin}/api/backends`)).body).backends;
}

async function bodies(url: string, n: number, headers: Record<string, string> = {}): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const { body } = await get(url, { headers });
    counts[body] = (counts[body] ?? 0) + 1;
  }
  return counts;
}

const changedTo = (ids: readonly string[]) => (l: LogLine): boolean =>
  l.msg === 'DNS backends changed' && JSON.stringify(l.backends) === JSON.stringify(ids);

test('dns+http:// follows the A records: addresses that appear are checked and join, those that go drain, those that stay keep their state; a failed lookup keeps the last set', async (t) => {
  const dns = await startDns(t);
  const { port } = await startFleet(t, ['127.0.0.2', '127.0.0.3', '127.0.0.4']);
  dns.ttl = 1; // shorter than DNS_REFRESH: the TTL sets the pace
  dns.zone.set('api.test', { a: ['127.0.0.2', '127.0.0.3'] });
  const lb = await startInProcess({
    BACKENDS: `dns+http://api.test:${port}`, DNS_SERVERS: dns.address, DNS_REFRESH: '1h',
    HEALTH_CHECK_PATH: '/health', HEALTH_CHECK_DOWN_INTERVAL: '100ms', HEALTH_CHECK_RISE: '1', ADMIN_PORT: '0',
  }, t);
  const [b, c, d] = [`127.0.0.2:${port}`, `127.0.0.3:${port}`, `127.0.0.4:${port}`];
  assert.equal((await lb.waitForLog((l) => l.msg === 'listening')).available, 2, 'the first answer is in the pool before the balancer listens');
  assert.deepEqual(await bodies(lb.url, 10), { '127.0.0.2': 5, '127.0.0.3': 5 });
  const before = (await adminBackends(lb)).find((x) => x.id === c)!;
  assert.equal(before.requests, 5);

  dns.zone.set('api.test', { a: ['127.0.0.4', '127.0.0.3'] });
  await lb.waitForLog(changedTo([c, d]));
  await lb.waitForLog((l) => l.msg === 'backend removed' && l.backend === b);
  await lb.waitForLog((l) => l.msg === 'backend is up' && l.backend === d);
  assert.deepEqual(await bodies(lb.url, 10), { '127.0.0.3': 5, '127.0.0.4': 5 });
  const after = await adminBackends(lb);
  assert.deepEqual(after.map((x) => x.id).sort(), [c, d]);
  assert.equal(after.find((x) => x.id === c)!.requests, 10, 'the address that stayed kept its counters');
  assert.equal(lb.logs.filter((l) => l.msg === 'backend added' && l.backend === c).length, 1, 'and was never re-added');
  assert.equal(lb.logs.filter((l) => l.msg === 'backend is up' && l.backend === c).length, 1, 'nor re-checked from scratch');

  dns.fail = true;
  const failed = await lb.waitForLog((l) => l.msg?.startsWith('DNS lookup failed') === true);
  assert.equal(failed.err, 'ESERVFAIL');
  assert.equal(failed.kept, 2);
  assert.deepEqual(await bodies(lb.url, 4), { '127.0.0.3': 2, '127.0.0.4': 2 });
  dns.zone.delete('api.test'); // NXDOMAIN is no better: the last good set stays
  dns.fail = false;
  await dns.nextQuery('api.test');
  await dns.nextQuery('api.test'); // the answer to the first has been taken in by now
  assert.deepEqual((await adminBackends(lb)).map((x) => x.id).sort(), [c, d]);
  assert.equal(lb.logs.filter((l) => l.msg?.startsWith('DNS lookup failed') === true).length, 1, 'a failure is logged once until the lookups work again');
  dns.zone.set('api.test', { a: ['127.0.0.3', '127.0.0.4'] });
  await lb.waitForLog((l) => l.msg === 'DNS lookup works again', 15_000);
  assert.equal(lb.logs.filter((l) => l.msg === 'DNS backends changed').length, 2, 'the same set after the failure is no change');
});

test('dns+srv+http:// takes the lowest-priority SRV records, their ports and weights', async (t) => {
  const dns = await startDns(t);
  const [x, y, z] = await Promise.all(['x', 'y', 'z'].map((n) => startBackend(n)));
  t.after(() => Promise.all([x, y, z].map((s) => s!.close())));
  dns.zone.set('_http._tcp.api.test', {
    srv: [
      { priority: 10, weight: 3, port: x!.port, target: 'x.api.test' },
      { priority: 10, weight: 1, port: y!.port, target: 'y.api.test' },
      { priority: 20, weight: 5, port: z!.port, target: 'x.api.test' },
    ],
  });
  dns.zone.set('x.api.test', { a: ['127.0.0.1'] });
  dns.zone.set('y.api.test', { a: ['127.0.0.1'] });
  const lb = createLoadBalancer({
    host: '127.0.0.1', port: 0, backends: ['dns+srv+http://_http._tcp.api.test'], strategy: 'weighted-round-robin',
    dns: { servers: [dns.address] }, health: { interval: '1h' },
  }, { logger: pino({ level: 'silent' }) });
  const { port } = await lb.start();
  t.after(() => lb.stop());
  assert.deepEqual(Object.fromEntries(lb.pool.backends.map((b) => [b.id, b.weight])), { [`127.0.0.1:${x!.port}`]: 3, [`127.0.0.1:${y!.port}`]: 1 });
  assert.deepEqual(await bodies(`http://127.0.0.1:${port}`, 8), { x: 6, y: 2 });
});

test('two balancers resolving one name with consistent-hash send 1,000 keys to the same backends, whatever order they learnt the addresses in (one of them a cluster)', async (t) => {
  const dns = await startDns(t);
  const { port } = await startFleet(t, ['127.0.0.2', '127.0.0.3', '127.0.0.4']);
  dns.ttl = 1;
  dns.rotate = true;
  const env = {
    BACKENDS: `dns+http://api.test:${port}`, DNS_SERVERS: dns.address, STRATEGY: 'consistent-hash', HASH_KEY: 'header:x-key',
    HEALTH_CHECK_PATH: '/health', HEALTH_CHECK_DOWN_INTERVAL: '100ms', HEALTH_CHECK_RISE: '1',
  };
  // One learns .3 and .4 first and .2 later; the other sees all three at once.
  dns.zone.set('api.test', { a: ['127.0.0.4', '127.0.0.3'] });
  const one = await startInProcess(env, t);
  dns.zone.set('api.test', { a: ['127.0.0.2', '127.0.0.3', '127.0.0.4'] });
  const ids = [`127.0.0.2:${port}`, `127.0.0.3:${port}`, `127.0.0.4:${port}`];
  await one.waitForLog(changedTo(ids));
  await one.waitForLog((l) => l.msg === 'backend is up' && l.backend === ids[0]);
  const two = await startLb({ ...env, WORKERS: '2' });
  t.after(() => two.stop());
  await two.waitForLog((l) => l.msg === 'listening' && l.available === 3);

  const keys = Array.from({ length: 1000 }, (_, i) => `user-${i}`);
  const route = async (url: string): Promise<string[]> => {
    const out: string[] = [];
    for (const key of keys) out.push((await get(url, { headers: { 'x-key': key } })).body);
    return out;
  };
  const [a, b] = [await route(one.url), await route(two.url)];
  const differ = a.filter((backend, i) => backend !== b[i]).length;
  assert.equal(differ, 0, `${differ} of 1000 keys went to different backends`);
  const share = a.reduce<Record<string, number>>((m, x) => ({ ...m, [x]: (m[x] ?? 0) + 1 }), {});
  assert.deepEqual(Object.keys(share).sort(), ['127.0.0.2', '127.0.0.3', '127.0.0.4']);
});

test('a bad dns+ entry or DNS_SERVERS exits 2 naming the setting', ENGINE_INDEPENDENT, async () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ BACKENDS: 'dns+ftp://api.test:80' }, /BACKENDS.*dns\+ftp.*expected dns\+http:\/\/NAME:PORT/],
    [{ BACKENDS: 'dns+http://10.0.0.1:80' }, /BACKENDS.*NAME is a DNS name/],
    [{ BACKENDS: 'dns+srv+http://_http._tcp.api.test:80' }, /BACKENDS.*SRV records give the port/],
    [{ BACKENDS: 'dns+http://api.test:80|id=x' }, /BACKENDS.*"\|id=" does not apply/],
    [{ BACKENDS: 'dns+http://api.test:80', DNS_SERVERS: 'dns.google' }, /DNS_SERVERS.*"dns.google".*IP addresses/],
    [{ BACKENDS: 'dns+http://api.test:80', DNS_REFRESH: '0s' }, /DNS_REFRESH/],
  ];
  for (const [env, expected] of cases) {
    const { code, stderr } = await runLb(env);
    assert.equal(code, 2, `${JSON.stringify(env)}: ${stderr}`);
    assert.match(stderr, expected);
  }
});

test('a reload that renames a dns+ entry keeps the old addresses serving until the new name has answered', async (t) => {
  const dns = await startDns(t);
  const [x, y] = await Promise.all(['x', 'y'].map((n) => startBackend(n)));
  t.after(() => Promise.all([x, y].map((s) => s!.close())));
  dns.zone.set('old.test', { a: ['127.0.0.1'] });
  dns.zone.set('new.test', { a: ['127.0.0.1'] });
  const input = (name: string, port: number) => ({
    host: '127.0.0.1', port: 0, backends: [`dns+http://${name}:${port}`], dns: { servers: [dns.address] }, health: { interval: '1h', downInterval: '50ms', rise: 1 },
  });
  const lb = createLoadBalancer(input('old.test', x!.port), { logger: pino({ level: 'silent' }) });
  const { port } = await lb.start();
  t.after(() => lb.stop());
  const url = `http://127.0.0.1:${port}`;
  assert.equal((await get(url)).body, 'x');
  const asked = dns.nextQuery('new.test');
  const outcome = lb.applyConfig(createLoadBalancer(input('new.test', y!.port)).config);
  assert.equal(outcome.ok, true);
  assert.equal(lb.pool.available.length, 1, 'the old address still serves while the new name is looked up');
  assert.equal((await get(url)).body, 'x');
  await asked;
  const gone = `127.0.0.1:${x!.port}`;
  await new Promise<void>((resolve) => {
    const check = (): void => { if (lb.pool.get(gone) === undefined && lb.pool.available.length === 1) { lb.pool.off('change', check); lb.pool.off('health', check); resolve(); } };
    lb.pool.on('change', check);
    lb.pool.on('health', check);
    check();
  });
  assert.equal((await get(url)).body, 'y');
});

test('a pool other than the default follows its own dns+ entry with its own DNS settings, in a cluster\'s primary, and its log lines name it', async (t) => {
  const dns = await startDns(t);
  const { port } = await startFleet(t, ['127.0.0.2', '127.0.0.3']);
  const plain = await startBackend('plain');
  t.after(() => plain.close());
  dns.ttl = 1;
  dns.zone.set('api.test', { a: ['127.0.0.2'] });
  const dir = mkdtempSync(join(tmpdir(), 'lb-dns-pool-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'lb.json');
  // Only the pool has DNS_SERVERS: the default pool has no dns+ entry, and the system's resolvers know no api.test.
  writeFileSync(file, JSON.stringify({ pools: { api: { backends: [`dns+http://api.test:${port}`], dns: { servers: dns.address, refresh: '1h' }, health: { path: '/health' } } } }));
  const lb = await startLb({ BACKENDS: plain.url, HEALTH_CHECK_DOWN_INTERVAL: '100ms', HEALTH_CHECK_RISE: '1', WORKERS: '2', LOG_LEVEL: 'debug' }, { args: ['--config', file] });
  t.after(() => lb.stop());
  const listening = await lb.waitForLog((l) => l.msg === 'listening' && l.workers === 2);
  assert.equal(listening.pools, 2);
  const [b, c] = [`127.0.0.2:${port}`, `127.0.0.3:${port}`];
  const first = await lb.waitForLog(changedTo([b]));
  assert.equal(first.pool, 'api');
  const up = await lb.waitForLog((l) => l.msg === 'backend is up' && l.backend === b);
  assert.deepEqual([up.pool, up.pid], ['api', listening.pid], 'checked by the primary, logged with its pool');

  dns.zone.set('api.test', { a: ['127.0.0.2', '127.0.0.3'] });
  assert.equal((await lb.waitForLog(changedTo([b, c]))).pool, 'api');
  assert.equal((await lb.waitForLog((l) => l.msg === 'backend is up' && l.backend === c)).pool, 'api');
  // Both workers have the new backend in their pool api, and its health.
  await lb.waitForLog(() => new Set(lb.logs.filter((l) => l.msg === 'health update applied' && l.backend === c && l.pool === 'api').map((l) => l.pid)).size === 2);
  assert.equal(lb.logs.filter((l) => l.msg === 'backend is up' && l.pool === undefined).length, 1, 'the default pool\'s one backend, without a pool field');
  assert.deepEqual(await bodies(lb.url, 4), { plain: 4 }, 'no route: the default pool serves');
});
