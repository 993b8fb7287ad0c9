// @engine-independent: the examples run through the testing kit's runHooks, without a socket
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pino from 'pino';
import type { Hooks } from '../src/hooks/index.js';
import { runHooks } from '../src/testing/index.js';

/** An example module of examples/hooks/, by file name. */
async function example(name: string): Promise<Record<string, unknown> & { default: unknown }> {
  return await import(new URL(`../../examples/hooks/${name}`, import.meta.url).href) as Record<string, unknown> & { default: unknown };
}

async function hooksOf(name: string): Promise<Hooks> {
  const mod = await example(name);
  return (typeof mod.default === 'function' ? (mod.default as (o: object) => Hooks)({ log: pino({ level: 'silent' }) }) : mod.default) as Hooks;
}

describe('examples/hooks', () => {
  it('ping.js answers GET /ping at the edge, and lets anything else through to a backend', async () => {
    const hooks = await hooksOf('ping.js');
    const ping = await runHooks(hooks, { request: { url: '/ping' } });
    assert.deepEqual([ping.status, ping.body, ping.upstream, ping.backend], [200, 'pong\n', undefined, undefined]);
    assert.ok(ping.headers.some(([n, v]) => n === 'cache-control' && v === 'no-store'));
    const other = await runHooks(hooks, { request: { url: '/pingx' } });
    assert.deepEqual([other.status, other.upstream?.url, other.backend], [200, '/pingx', 'a']);
  });

  it('ab-cookie.js sends ab=b to pool b and ab=a to pool a; a new client gets a side by address, and the cookie that keeps it there', async () => {
    const hooks = await hooksOf('ab-cookie.js');
    const pools = { default: ['d'], a: ['a1'], b: ['b1'] };
    const b = await runHooks(hooks, { pools, request: { headers: { cookie: 'x=1; ab=b' } } });
    assert.deepEqual([b.pool, b.backend], ['b', 'b1']);
    assert.ok(!b.headers.some(([n]) => n === 'set-cookie'), 'a client with its side is not told again');
    const a = await runHooks(hooks, { pools, request: { headers: { cookie: 'ab=a' } } });
    assert.deepEqual([a.pool, a.backend], ['a', 'a1']);
    const sides = new Set<string>();
    for (const address of ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']) {
      const first = await runHooks(hooks, { pools, request: { clientAddress: address } });
      const again = await runHooks(hooks, { pools, request: { clientAddress: address } });
      assert.equal(first.pool, again.pool, 'the same address, the same side');
      const cookie = first.headers.find(([n]) => n === 'set-cookie')?.[1];
      assert.equal(cookie, `ab=${first.pool}; Path=/; HttpOnly; SameSite=Lax`);
      sides.add(first.pool);
    }
    assert.deepEqual([...sides].sort(), ['a', 'b'], 'both sides get clients');
  });

  it('mask-log.js puts the API key in the access line with only its last four characters', async () => {
    const hooks = await hooksOf('mask-log.js');
    const out = await runHooks(hooks, { request: { headers: { 'X-Api-Key': 'secret-key-abcdef' } } });
    assert.equal(out.log?.apiKey, '****cdef');
    assert.equal(JSON.stringify(out.log).includes('secret'), false);
    const short = await runHooks(hooks, { request: { headers: { 'x-api-key': 'abc' } } });
    assert.equal(short.log?.apiKey, '****');
    const none = await runHooks(hooks, {});
    assert.equal(none.log?.apiKey, undefined);
  });

  it('canary.js sends about 1% of user ids to the canary pool, each user always the same way', async () => {
    const { inCanary } = await example('canary.js') as unknown as { inCanary: (u: string, p: number) => boolean };
    let canary = 0;
    for (let i = 0; i < 10_000; i++) if (inCanary(`user-${i}`, 1)) canary++;
    assert.ok(canary > 50 && canary < 150, `${canary} of 10000 users in the canary`);
    const hooks = await hooksOf('canary.js');
    const pools = { default: ['stable'], canary: ['new'] };
    const chosen = Array.from({ length: 400 }, (_, i) => `user-${i}`).find((u) => inCanary(u, 1))!;
    const staying = Array.from({ length: 400 }, (_, i) => `user-${i}`).find((u) => !inCanary(u, 1))!;
    for (let i = 0; i < 2; i++) {
      assert.equal((await runHooks(hooks, { pools, request: { headers: { 'x-user-id': chosen } } })).backend, 'new');
      assert.equal((await runHooks(hooks, { pools, request: { headers: { 'x-user-id': staying } } })).backend, 'stable');
    }
    assert.equal((await runHooks(hooks, { pools })).backend, 'stable', 'no user id: the default');
  });

  it('auth-token.js replaces Authorization on what the backend is sent with the cached token, read again after its TTL', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'lb-token-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'token');
    writeFileSync(file, 'one\n');
    process.env.UPSTREAM_TOKEN_FILE = file;
    process.env.TOKEN_TTL_MS = '3600000';
    t.after(() => { delete process.env.UPSTREAM_TOKEN_FILE; delete process.env.TOKEN_TTL_MS; });
    const hooks = await hooksOf('auth-token.js');
    const first = await runHooks(hooks, { request: { headers: { authorization: 'Basic client', accept: '*/*' } } });
    assert.deepEqual(first.upstream?.headers, [['accept', '*/*'], ['authorization', 'Bearer one']]);
    writeFileSync(file, 'two\n');
    const cached = await runHooks(hooks, {});
    assert.deepEqual(cached.upstream?.headers, [['authorization', 'Bearer one']], 'within the TTL the cached token');
    const { TokenCache } = await example('auth-token.js') as unknown as { TokenCache: new (read: () => string, ttl: number, log: unknown, now: () => number) => { get(): string } };
    let now = 0;
    let reads = 0;
    const cache = new TokenCache(() => `t${++reads}`, 1000, pino({ level: 'silent' }), () => now);
    assert.deepEqual([cache.get(), cache.get()], ['t1', 't1']);
    now = 1000;
    assert.equal(cache.get(), 't2');
    rmSync(file);
    process.env.UPSTREAM_TOKEN_FILE = join(dir, 'missing');
    const failing = await hooksOf('auth-token.js');
    const out = await runHooks(failing, {});
    assert.deepEqual([out.status, out.error, out.upstream], [500, 'LB_ERR_HOOK_FAILED', undefined], 'no token at all: a 500, not an unauthenticated request');
  });
});
