import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRoutes } from '../route-spec.js';
import { parseHtpasswd } from './htpasswd.js';
import { TtlCache } from './ttl-cache.js';

const HASH = '$2y$05$abcdefghijklmnopqrstuu5cyKqFS1oOJdKhL5N9W5aJ0ukEXAaxu';

test('htpasswd: bcrypt lines read, comments and blank lines skipped; other hashes refused naming the file and line', () => {
  assert.deepEqual(parseHtpasswd(`# users\n\nalice:${HASH}\r\nbob:${HASH.replace('$2y$', '$2b$')}\n`, 'u.htpasswd', 'f'), [
    { user: 'alice', hash: HASH }, { user: 'bob', hash: HASH.replace('$2y$', '$2b$') },
  ]);
  assert.throws(() => parseHtpasswd(`alice:${HASH}\nbob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n`, '/etc/u.htpasswd', 'f'),
    /htpasswd file \/etc\/u\.htpasswd line 2 \(user "bob"\): expected a bcrypt hash .* not a SHA-1/);
  assert.throws(() => parseHtpasswd('carol:plain\n', 'u', 'f'), /line 1 \(user "carol"\).*not plain text/);
  assert.throws(() => parseHtpasswd('no-colon\n', 'u', 'f'), /line 1: expected user:hash/);
  assert.throws(() => parseHtpasswd(`a:${HASH}\na:${HASH}\n`, 'u', 'f'), /line 2: user "a" is listed twice/);
});

test('TtlCache: entries expire after the TTL and the oldest goes when full', () => {
  let now = 0;
  const cache = new TtlCache<number>(2, 100, () => now);
  cache.set('a', 1);
  cache.set('b', 2);
  cache.set('c', 3);
  assert.equal(cache.get('a'), undefined, 'evicted: the oldest');
  assert.equal(cache.get('b'), 2);
  now = 100;
  assert.equal(cache.get('b'), undefined, 'expired');
  assert.equal(cache.size, 1);
});

test('auth filters: settings checked at load, with the route and field named', () => {
  const pools = new Set(['app']);
  const route = (filters: unknown): unknown => [{ name: 'r', filters, backendRefs: [{ name: 'app' }] }];
  assert.throws(() => parseRoutes(route([{ type: 'BasicAuth', basicAuth: { htpasswd: '/nonexistent/u.htpasswd' } }]), pools, undefined),
    /cannot read the htpasswd file \/nonexistent\/u\.htpasswd: ENOENT/);
  assert.throws(() => parseRoutes(route([{ type: 'ForwardAuth', forwardAuth: { address: 'ftp://x' } }]), pools, undefined),
    /filters\[0\]\.forwardAuth\.address "ftp:\/\/x".*expected an http:\/\/ or https:\/\/ URL/);
  assert.throws(() => parseRoutes(route([{ type: 'ForwardAuth', forwardAuth: { address: 'http://a', timeout: 'soon' } }]), pools, undefined),
    /forwardAuth\.timeout "soon".*expected a duration/);
  assert.throws(() => parseRoutes(route([{ type: 'JWT', jwt: { issuer: 'x' } }]), pools, undefined), /jwt\.jwksUrl is missing.*either a jwksUrl or keys/);
  assert.throws(() => parseRoutes(route([
    { type: 'JWT', jwt: { jwksUrl: 'http://a/jwks' } },
    { type: 'ForwardAuth', forwardAuth: { address: 'http://a' } },
  ]), pools, undefined), /filters\[1\]\.type "ForwardAuth".*one authentication filter per route \(filters\[0\] is JWT\)/);
  const [parsed] = parseRoutes(route([{ type: 'ForwardAuth', forwardAuth: { address: 'http://a/auth', authRequestHeaders: ['Authorization'], cacheTtl: '30s' } }]), pools, undefined);
  assert.deepEqual(parsed!.filters[0], { type: 'ForwardAuth', forwardAuth: {
    address: 'http://a/auth', authRequestHeaders: ['authorization'], authResponseHeaders: [], timeout: 5000, cacheTtl: 30_000, keepAuthorization: false,
  } });
});
