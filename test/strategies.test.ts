import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { get } from './helpers/http.js';
import { startBackends } from './helpers/backend.js';
import { startInProcess } from './helpers/in-process-lb.js';
import { ENGINE_INDEPENDENT, runLb, startLb } from './helpers/lb.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/fewest-requests-strategy.js', import.meta.url));

test('STRATEGY works from the environment, a config file and a flag', async (t) => {
  const backends = await startBackends(t);
  const list = backends.map((b, i) => `${b.url}|weight=${i === 0 ? 5 : 1}`).join(',');
  const dir = mkdtempSync(join(tmpdir(), 'lb-strategy-'));
  writeFileSync(join(dir, 'lb.yaml'), 'strategy: weighted-round-robin\n');
  for (const how of [{ env: { STRATEGY: 'weighted-round-robin' } }, { args: ['--config', 'lb.yaml'] }, { args: ['--strategy', 'weighted-round-robin'] }]) {
    const lb = await startLb({ BACKENDS: list, ...(how.env ?? {}) }, { cwd: dir, args: how.args ?? [] });
    const seq = [];
    for (let i = 0; i < 7; i++) seq.push((await get(lb.url)).body);
    assert.equal(seq.join(''), 'aabacaa', JSON.stringify(how));
    assert.equal((await lb.waitForLog((l) => l.msg === 'listening')).strategy, 'weighted-round-robin');
    await lb.stop();
  }
});

test('least-connections sends new requests away from a backend holding long requests', async (t) => {
  const releases: (() => void)[] = [];
  const backends = await startBackends(t, (req, res, backend) => {
    if (req.url === '/long') { releases.push(() => res.end(backend.name)); return; }
    res.end(backend.name);
  });
  t.after(() => { for (const r of releases) r(); });
  const lb = await startInProcess({ BACKENDS: backends.map((b) => b.url).join(','), STRATEGY: 'least-connections', HEALTH_CHECK_PATH: '/health' }, t);
  // Two long requests: the first lands on a, the second on the next idle backend (b).
  const long = [get(`${lb.url}/long`), get(`${lb.url}/long`)];
  await backends[0]!.nextRequest();
  await backends[1]!.nextRequest();
  for (let i = 0; i < 10; i++) assert.equal((await get(lb.url)).body, 'c', 'only c has nothing in flight');
  for (const r of releases.splice(0)) r();
  await Promise.all(long);
});

test('consistent-hash on a header keeps each user on one backend', async (t) => {
  const backends = await startBackends(t);
  const lb = await startInProcess({ BACKENDS: backends.map((b) => b.url).join(','), STRATEGY: 'consistent-hash', HASH_KEY: 'header:X-User-Id' }, t);
  const seen = new Map<string, Set<string>>();
  for (let round = 0; round < 3; round++) {
    for (let u = 0; u < 30; u++) {
      const body = (await get(lb.url, { headers: { 'x-user-id': `user-${u}` } })).body;
      if (!seen.has(`user-${u}`)) seen.set(`user-${u}`, new Set());
      seen.get(`user-${u}`)!.add(body);
    }
  }
  for (const [user, bodies] of seen) assert.equal(bodies.size, 1, `${user} moved: ${[...bodies]}`);
  assert.equal(new Set([...seen.values()].map((s) => [...s][0])).size, 3, 'users spread over all backends');
  // Without the header: round robin.
  const fallback = [];
  for (let i = 0; i < 3; i++) fallback.push((await get(lb.url)).body);
  assert.deepEqual(fallback.sort(), ['a', 'b', 'c']);
});

test('sticky sessions: a signed cookie pins a client to its backend, end to end', async (t) => {
  const backends = await startBackends(t);
  const lb = await startInProcess({ BACKENDS: backends.map((b) => b.url).join(','), STICKY_COOKIE: 'lb_sticky', STICKY_SECRET: 'correct-horse-battery-staple' }, t);
  const first = await get(lb.url);
  const setCookie = first.headers['set-cookie'];
  assert.ok(setCookie !== undefined && setCookie.length === 1);
  assert.match(setCookie[0]!, /^lb_sticky=[^;]+; Path=\/; HttpOnly; SameSite=Lax$/);
  const cookie = setCookie[0]!.split(';')[0]!;
  for (let i = 0; i < 6; i++) {
    const again = await get(lb.url, { headers: { cookie } });
    assert.equal(again.body, first.body);
    assert.equal(again.headers['set-cookie'], undefined);
  }
  const forged = await get(lb.url, { headers: { cookie: cookie.replace(/.$/, (c) => (c === 'x' ? 'y' : 'x')) } });
  assert.ok(forged.headers['set-cookie'] !== undefined, 'a forged cookie is replaced');
});

test('--strategy-module (or strategyModule in a config file) loads the documented example strategy', async (t) => {
  const backends = await startBackends(t);
  const dir = mkdtempSync(join(tmpdir(), 'lb-module-'));
  writeFileSync(join(dir, 'lb.json'), JSON.stringify({ strategyModule: EXAMPLE }));
  for (const args of [['--strategy-module', EXAMPLE], ['--config', 'lb.json']]) {
    const lb = await startLb({ BACKENDS: backends.map((b) => b.url).join(',') }, { args, cwd: dir });
    assert.equal((await lb.waitForLog((l) => l.msg === 'listening')).strategy, 'fewest-requests');
    const bodies = [];
    for (let i = 0; i < 6; i++) bodies.push((await get(lb.url)).body);
    assert.deepEqual(bodies, ['a', 'b', 'c', 'a', 'b', 'c'], args.join(' '));
    await lb.stop();
  }
});

test('a bad strategy module, strategy name or strategy option exits 2 with a clear message', ENGINE_INDEPENDENT, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lb-module-'));
  writeFileSync(join(dir, 'no-default.mjs'), 'export const x = 1;\n');
  writeFileSync(join(dir, 'no-pick.mjs'), 'export default () => ({ name: "broken" });\n');
  writeFileSync(join(dir, 'syntax.mjs'), 'export default (;\n');
  const cases: [Record<string, string>, string[], RegExp][] = [
    [{}, ['--strategy-module', './missing.mjs'], /^lb: invalid strategy module "\.\/missing\.mjs": cannot load it: Cannot find module/],
    [{}, ['--strategy-module', './no-default.mjs'], /^lb: invalid strategy module "\.\/no-default\.mjs": expected a module whose default export is a strategy factory/],
    [{}, ['--strategy-module', './no-pick.mjs'], /^lb: invalid strategy module "\.\/no-pick\.mjs": its factory must return an object with a non-empty string "name" and a "pick\(healthy, request\)" function$/],
    [{}, ['--strategy-module', './syntax.mjs'], /^lb: invalid strategy module "\.\/syntax\.mjs": cannot load it: /],
    [{ STRATEGY: 'least-latency' }, [], /^lb: invalid STRATEGY "least-latency": expected one of round-robin, weighted-round-robin, least-connections, random, power-of-two-choices, peak-ewma, consistent-hash$/],
    [{ HASH_KEY: 'query:q' }, [], /^lb: invalid HASH_KEY "query:q": expected ip, path, header:<name>, cookie:<name>, tlv:<type> \(a TLV type from 0x00 to 0xff \(its value in hex\) or one of alpn, authority, unique_id, netns, aws_vpce_id \(text\)\) or jwt:<claim>$/],
    [{ HASH_LOAD_FACTOR: '0.5' }, [], /^lb: invalid HASH_LOAD_FACTOR "0.5": expected 0 \(no bound\) or a factor from 1 to 100/],
    [{ HASH_FALLBACK: 'consistent-hash' }, [], /^lb: invalid HASH_FALLBACK "consistent-hash": expected one of round-robin, weighted-round-robin/],
    [{ STICKY_COOKIE: 'bad cookie' }, [], /^lb: invalid STICKY_COOKIE "bad cookie": expected a cookie name/],
    [{ STICKY_COOKIE: 'lb', STICKY_SECRET: 'short' }, [], /^lb: invalid STICKY_SECRET \[redacted\] \(5 characters\): expected a secret of at least 16 characters$/],
  ];
  await Promise.all(cases.map(async ([env, args, want]) => {
    const { code, stderr } = await runLb(env, args, dir);
    assert.equal(code, 2, `${JSON.stringify({ env, args })}: ${stderr}`);
    assert.equal(stderr.trimEnd().split('\n').length, 1, stderr);
    assert.match(stderr.trimEnd(), want);
  }));
});
