import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRoutes } from './route-spec.js';
import { RouteTable } from './route-table.js';

const POOLS = new Set(['v1', 'v2', 'v3']);

/** Conformance routes use one rule per HTTPRoute rule: each becomes a route of its own, in order. */
function table(routes: readonly Record<string, unknown>[]): RouteTable {
  return RouteTable.compile(parseRoutes(routes.map((r, i) => ({ name: `r${i}`, ...r })), POOLS, 'test.yaml'));
}

/** A rule sending to one pool: `to('v1', { path: … })`. */
function to(pool: string, ...matches: Record<string, unknown>[]): Record<string, unknown> {
  return { matches, backendRefs: [{ name: pool }] };
}

interface Case {
  readonly host?: string;
  readonly method?: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  /** The pool of the winning route, or undefined for a 404. */
  readonly backend: string | undefined;
}

function check(t: RouteTable, cases: readonly Case[]): void {
  for (const c of cases) {
    const raw = Object.entries(c.headers ?? {}).flat();
    const rule = t.match(c.host, c.method ?? 'GET', c.path, raw);
    assert.equal(rule?.route.backendRefs[0]?.name, c.backend, `${c.method ?? 'GET'} ${c.host ?? ''}${c.path} ${JSON.stringify(c.headers ?? {})}`);
  }
}

const prefix = (value: string) => ({ path: { type: 'PathPrefix', value } });
const exact = (value: string) => ({ path: { type: 'Exact', value } });
const headers = (h: Record<string, string>) => Object.entries(h).map(([name, value]) => ({ name, value }));
const query = (q: Record<string, string>) => Object.entries(q).map(([name, value]) => ({ name, value }));

test('HTTPRouteExactPathMatching: Exact compares the whole path, case-sensitively', () => {
  const t = table([to('v1', exact('/one')), to('v2', exact('/two'))]);
  check(t, [
    { path: '/one', backend: 'v1' },
    { path: '/two', backend: 'v2' },
    { path: '/', backend: undefined },
    { path: '/one/example', backend: undefined },
    { path: '/two/', backend: undefined },
    { path: '/Two', backend: undefined },
    // Not in the conformance test: the query is not part of the path.
    { path: '/one?x=1', backend: 'v1' },
  ]);
});

test('the scan\'s path check (a path\'s last character at its place) never rules out a rule that matches: prefixes and exact paths of every length, a regex, conditions', () => {
  const t = table([
    to('v1', exact('/ab')), to('v2', prefix('/a')), to('v3', prefix('/ab/c')), to('v1', { path: { type: 'RegularExpression', value: '/x[0-9]' } }),
    to('v3', { ...prefix('/q'), method: 'POST' }), to('v2', prefix('/q')), to('v1', prefix('/')),
  ]);
  check(t, [
    { path: '/ab', backend: 'v1' },
    { path: '/a', backend: 'v2' },
    { path: '/a/b', backend: 'v2' },
    { path: '/ab/', backend: 'v1' },
    { path: '/ab/c', backend: 'v3' },
    { path: '/ab/c/d?e=f', backend: 'v3' },
    { path: '/ab/cd', backend: 'v1' },
    { path: '/x7', backend: 'v1' },
    { path: '/q', method: 'POST', backend: 'v3' },
    { path: '/q', backend: 'v2' },
    { path: '/', backend: 'v1' },
    { path: '/?a', backend: 'v1' },
  ]);
  // 100 hosts × 10 prefixes, as bench/routes.ts: each request finds its own route.
  const many = RouteTable.compile(parseRoutes(Array.from({ length: 1000 }, (_, i) => ({
    name: `svc${Math.floor(i / 10)}-p${i % 10}`, hostnames: [`svc${Math.floor(i / 10)}.example.com`],
    matches: [{ path: { type: 'PathPrefix', value: `/p${i % 10}` } }], backendRefs: [{ name: 'v1' }],
  })), POOLS, 'test.yaml'));
  for (let h = 0; h < 100; h += 7) {
    for (let p = 0; p < 10; p++) assert.equal(many.match(`SVC${h}.example.com:80`, 'GET', `/p${p}/x`, [])?.route.name, `svc${h}-p${p}`);
    assert.equal(many.match(`svc${h}.example.com`, 'GET', '/p10', []), undefined);
  }
});

test('HTTPRouteMatching: PathPrefix is element-wise, header matches count', () => {
  const t = table([to('v1', prefix('/'), { headers: headers({ version: 'one' }) }), to('v2', prefix('/v2'), { headers: headers({ version: 'two' }) })]);
  check(t, [
    { path: '/', backend: 'v1' },
    { path: '/example', backend: 'v1' },
    { path: '/', headers: { Version: 'one' }, backend: 'v1' },
    { path: '/v2', backend: 'v2' },
    { path: '/v2/example', backend: 'v2' },
    { path: '/', headers: { Version: 'two' }, backend: 'v2' },
    { path: '/v2/', backend: 'v2' },
    { path: '/v2example', backend: 'v1' },
    { path: '/foo/v2/example', backend: 'v1' },
    { path: '/v2?x=1', backend: 'v2' },
  ]);
});

test('HTTPRouteMatchingAcrossRoutes: precedence spans routes sharing a hostname', () => {
  const t = table([
    { hostnames: ['example.com', 'example.net'], ...to('v1', prefix('/'), { headers: headers({ version: 'one' }) }) },
    { hostnames: ['example.com'], ...to('v2', prefix('/v2'), { headers: headers({ version: 'two' }) }) },
  ]);
  check(t, [
    { host: 'example.com', path: '/', backend: 'v1' },
    { host: 'example.com', path: '/example', backend: 'v1' },
    { host: 'example.net', path: '/example', backend: 'v1' },
    { host: 'example.com', path: '/example', headers: { Version: 'one' }, backend: 'v1' },
    { host: 'example.com', path: '/v2', backend: 'v2' },
    { host: 'example.net', path: '/v2', backend: 'v1' },
    { host: 'example.com', path: '/v2/example', backend: 'v2' },
    { host: 'example.com', path: '/', headers: { Version: 'two' }, backend: 'v2' },
  ]);
});

test('HTTPRouteHeaderMatching: names case-insensitive, values exact, ties to config order', () => {
  const t = table([
    to('v1', { headers: headers({ version: 'one' }) }),
    to('v2', { headers: headers({ version: 'two' }) }),
    to('v1', { headers: headers({ version: 'two', color: 'orange' }) }),
    to('v1', { headers: headers({ color: 'blue' }) }, { headers: headers({ color: 'green' }) }),
    to('v2', { headers: headers({ color: 'red' }) }, { headers: headers({ color: 'yellow' }) }),
  ]);
  check(t, [
    { path: '/', headers: { Version: 'one' }, backend: 'v1' },
    { path: '/', headers: { Version: 'two' }, backend: 'v2' },
    { path: '/', headers: { Version: 'two', Color: 'orange' }, backend: 'v1' },
    { path: '/', headers: { Version: 'two', Color: 'blue' }, backend: 'v2' },
    { path: '/', headers: { Color: 'orange' }, backend: undefined },
    { path: '/', headers: { 'Some-Other-Header': 'one' }, backend: undefined },
    { path: '/', headers: { Color: 'blue' }, backend: 'v1' },
    { path: '/', headers: { Color: 'green' }, backend: 'v1' },
    { path: '/', headers: { Color: 'red' }, backend: 'v2' },
    { path: '/', headers: { Color: 'yellow' }, backend: 'v2' },
    { path: '/', headers: { Color: 'purple' }, backend: undefined },
    // Not in the conformance test: values are case-sensitive; the first occurrence counts.
    { path: '/', headers: { Version: 'ONE' }, backend: undefined },
  ]);
  assert.equal(t.match(undefined, 'GET', '/', ['COLOR', 'purple', 'color', 'red']), undefined);
  assert.equal(t.match(undefined, 'GET', '/', ['COLOR', 'red', 'color', 'purple'])?.route.name, 'r4');
});

test('HTTPRouteQueryParamMatching: names exact case, first occurrence, values as received', () => {
  const t = table([
    to('v1', { queryParams: query({ animal: 'whale' }) }),
    to('v2', { queryParams: query({ animal: 'dolphin' }) }),
    to('v3', { queryParams: query({ animal: 'dolphin', color: 'blue' }) }, { queryParams: query({ ANIMAL: 'Whale' }) }),
    to('v1', { ...prefix('/path1'), queryParams: query({ animal: 'whale' }) }),
    to('v2', { headers: headers({ version: 'one' }), queryParams: query({ animal: 'whale' }) }),
    to('v3', { ...prefix('/path2'), headers: headers({ version: 'two' }), queryParams: query({ animal: 'whale' }) }),
    to('v1', { ...prefix('/path3'), queryParams: query({ animal: 'shark' }) }, { ...prefix('/path4'), headers: headers({ version: 'three' }), queryParams: query({ animal: 'kraken' }) }),
    to('v1', prefix('/path5')),
    to('v2', { queryParams: query({ animal: 'hydra' }) }),
    to('v3', { headers: headers({ version: 'four' }) }),
  ]);
  check(t, [
    { path: '/?animal=whale', backend: 'v1' },
    { path: '/?animal=dolphin', backend: 'v2' },
    { path: '/?animal=dolphin&color=blue', backend: 'v3' },
    { path: '/?ANIMAL=Whale', backend: 'v3' },
    { path: '/?animal=whale&otherparam=irrelevant', backend: 'v1' },
    { path: '/?animal=dolphin&color=yellow', backend: 'v2' },
    { path: '/?color=blue', backend: undefined },
    { path: '/?animal=dog', backend: undefined },
    { path: '/?animal=whaledolphin', backend: undefined },
    { path: '/', backend: undefined },
    { path: '/path1?animal=whale', backend: 'v1' },
    { path: '/?animal=whale', headers: { version: 'one' }, backend: 'v2' },
    { path: '/path2?animal=whale', headers: { version: 'two' }, backend: 'v3' },
    { path: '/path3?animal=shark', backend: 'v1' },
    { path: '/path4?animal=kraken', headers: { version: 'three' }, backend: 'v1' },
    { path: '/?animal=shark', backend: undefined },
    { path: '/path4?animal=kraken', backend: undefined },
    { path: '/path5?animal=hydra', backend: 'v1' },
    { path: '/?animal=hydra', headers: { version: 'four' }, backend: 'v3' },
    // Not in the conformance test: first occurrence wins; no decoding; a name alone has value ''.
    { path: '/?animal=dog&animal=whale', backend: undefined },
    { path: '/?xanimal=whale&animal=dolphin', backend: 'v2' },
    { path: '/?animal=wh%61le', backend: undefined },
  ]);
});

test('HTTPRouteMethodMatching: a method match outranks header matches', () => {
  const t = table([
    to('v1', { method: 'POST' }),
    to('v2', { method: 'GET' }),
    to('v1', { ...prefix('/path1'), method: 'GET' }),
    to('v2', { headers: headers({ version: 'one' }), method: 'PUT' }),
    to('v3', { ...prefix('/path2'), headers: headers({ version: 'two' }), method: 'POST' }),
    to('v1', { ...prefix('/path3'), method: 'PATCH' }, { ...prefix('/path4'), headers: headers({ version: 'three' }), method: 'DELETE' }),
    to('v1', prefix('/path5')),
    to('v2', { method: 'PATCH' }),
    to('v3', { headers: headers({ version: 'four' }) }),
  ]);
  check(t, [
    { method: 'POST', path: '/', backend: 'v1' },
    { method: 'GET', path: '/', backend: 'v2' },
    { method: 'HEAD', path: '/', backend: undefined },
    { method: 'GET', path: '/path1', backend: 'v1' },
    { method: 'PUT', path: '/', headers: { version: 'one' }, backend: 'v2' },
    { method: 'POST', path: '/path2', headers: { version: 'two' }, backend: 'v3' },
    { method: 'PATCH', path: '/path3', backend: 'v1' },
    { method: 'DELETE', path: '/path4', headers: { version: 'three' }, backend: 'v1' },
    { method: 'PUT', path: '/', backend: undefined },
    { method: 'DELETE', path: '/path4', backend: undefined },
    { method: 'PATCH', path: '/path5', backend: 'v1' },
    { method: 'PATCH', path: '/', headers: { version: 'four' }, backend: 'v2' },
  ]);
});

test('HTTPRoutePathMatchOrder: Exact before PathPrefix, longest prefix first, trailing slash ignored', () => {
  const t = table([
    to('v1', exact('/match')),
    to('v2', exact('/match/exact')),
    to('v3', exact('/match/exact/one')),
    to('v3', prefix('/match/')),
    to('v1', prefix('/match/prefix/')),
    to('v2', prefix('/match/prefix/one')),
  ]);
  check(t, [
    { path: '/match/exact/one', backend: 'v3' },
    { path: '/match/exact', backend: 'v2' },
    { path: '/match', backend: 'v1' },
    { path: '/match/prefix/one/any', backend: 'v2' },
    { path: '/match/prefix/any', backend: 'v1' },
    { path: '/match/any', backend: 'v3' },
    // Not in the conformance test: /match/prefix/ also matches /match/prefix, never /match/prefixes.
    { path: '/match/prefix', backend: 'v1' },
    { path: '/match/prefixes', backend: 'v3' },
    { path: '/matches', backend: undefined },
  ]);
});

test('regular expressions sit between Exact and PathPrefix, longer pattern first, matching the whole value', () => {
  const re = (value: string) => ({ path: { type: 'RegularExpression', value } });
  const t = table([
    to('v1', prefix('/api/v1')),
    to('v2', re('/api/v[0-9]+')),
    to('v3', re('/api/v[0-9]+/users')),
    to('v1', exact('/api/v2')),
    to('v2', { headers: [{ type: 'RegularExpression', name: 'x-tier', value: 'gold|silver' }], queryParams: [{ type: 'RegularExpression', name: 'id', value: '[0-9]+' }] }),
  ]);
  check(t, [
    { path: '/api/v2', backend: 'v1' },
    { path: '/api/v1', backend: 'v2' },
    { path: '/api/v1?x=1', backend: 'v2' },
    { path: '/api/v1/users', backend: 'v3' },
    { path: '/api/v1/other', backend: 'v1' },
    { path: '/?id=12', headers: { 'X-Tier': 'gold' }, backend: 'v2' },
    { path: '/?id=12', headers: { 'X-Tier': 'golden' }, backend: undefined },
    { path: '/?id=12a', headers: { 'X-Tier': 'silver' }, backend: undefined },
  ]);
});

test('ListenerHostnameMatching (listener hostnames as route hostnames): exact before wildcard, wildcards never match the bare domain', () => {
  const t = table([
    { hostnames: ['bar.com'], ...to('v1') },
    { hostnames: ['foo.bar.com'], ...to('v2') },
    { hostnames: ['*.bar.com', '*.foo.com'], ...to('v3') },
  ]);
  check(t, [
    { host: 'bar.com', path: '/', backend: 'v1' },
    { host: 'foo.bar.com', path: '/', backend: 'v2' },
    { host: 'baz.bar.com', path: '/', backend: 'v3' },
    { host: 'boo.bar.com', path: '/', backend: 'v3' },
    { host: 'multiple.prefixes.bar.com', path: '/', backend: 'v3' },
    { host: 'multiple.prefixes.foo.com', path: '/', backend: 'v3' },
    { host: 'foo.com', path: '/', backend: undefined },
    { host: 'no.matching.host', path: '/', backend: undefined },
    // Not in the conformance test: Host as received (case, port, trailing dot), and no Host at all.
    { host: 'FOO.Bar.com:8080', path: '/', backend: 'v2' },
    { host: 'bar.com.', path: '/', backend: 'v1' },
    { host: undefined, path: '/', backend: undefined },
  ]);
});

test('HTTPRouteHostnameIntersection (route hostnames only): a host falls through to wildcard and catch-all tiers', () => {
  const t = table([
    { hostnames: ['non.matching.com', '*.nonmatchingwildcard.io', 'very.specific.com'], ...to('v1', prefix('/s1')) },
    { hostnames: ['non.matching.com', 'wildcard.io', 'foo.wildcard.io', 'bar.wildcard.io', 'foo.bar.wildcard.io'], ...to('v2', prefix('/s2')) },
    { hostnames: ['non.matching.com', '*.specific.com'], ...to('v3', prefix('/s3')) },
    { hostnames: ['*.anotherwildcard.io'], ...to('v1', prefix('/s4')) },
    { hostnames: ['first.com', 'sub.first.com', 'second.com', 'sub.second.com'], ...to('v2') },
    to('v3', prefix('/fallback')),
  ]);
  check(t, [
    { host: 'very.specific.com', path: '/s1', backend: 'v1' },
    { host: 'very.specific.com:1234', path: '/s1', backend: 'v1' },
    { host: 'foo.wildcard.io', path: '/s1', backend: undefined },
    { host: 'very.specific.com', path: '/non-matching-prefix', backend: undefined },
    { host: 'foo.wildcard.io', path: '/s2', backend: 'v2' },
    { host: 'bar.wildcard.io', path: '/s2', backend: 'v2' },
    { host: 'foo.bar.wildcard.io', path: '/s2', backend: 'v2' },
    { host: 'very.specific.com', path: '/s2', backend: undefined },
    // very.specific.com is listed exactly by r0, but /s3 falls through to r2's *.specific.com.
    { host: 'very.specific.com', path: '/s3', backend: 'v3' },
    { host: 'foo.wildcard.io', path: '/s3', backend: undefined },
    { host: 'foo.anotherwildcard.io', path: '/s4', backend: 'v1' },
    { host: 'foo.bar.anotherwildcard.io', path: '/s4', backend: 'v1' },
    { host: 'anotherwildcard.io', path: '/s4', backend: undefined },
    { host: 'very.specific.com', path: '/s4', backend: undefined },
    { host: 'first.com', path: '/', backend: 'v2' },
    { host: 'sub.second.com', path: '/', backend: 'v2' },
    { host: 'third.com', path: '/', backend: undefined },
    { host: 'sub.third.com', path: '/', backend: undefined },
    // Not in the conformance test: routes without hostnames answer every host last.
    { host: 'first.com', path: '/fallback/x', backend: 'v2' },
    { host: 'third.com', path: '/fallback/x', backend: 'v3' },
    { host: undefined, path: '/fallback', backend: 'v3' },
  ]);
});

test('a longer wildcard wins over a shorter one', () => {
  const t = table([{ hostnames: ['*.example.com'], ...to('v1') }, { hostnames: ['*.api.example.com'], ...to('v2') }]);
  check(t, [
    { host: 'a.api.example.com', path: '/', backend: 'v2' },
    { host: 'api.example.com', path: '/', backend: 'v1' },
    { host: 'a.example.com', path: '/', backend: 'v1' },
  ]);
});

test('the host cache stays correct past its bound', () => {
  const t = table([{ hostnames: ['*.example.com'], ...to('v1') }, to('v2')]);
  for (let i = 0; i < 2500; i++) {
    assert.equal(t.match(`h${i}.example.com`, 'GET', '/', [])?.route.name, 'r0');
    assert.equal(t.match(`h${i}.example.org`, 'GET', '/', [])?.route.name, 'r1');
  }
});

test('unreachable: an identical earlier rule in the same hostname tier hides a later one', () => {
  const t = table([
    { name: 'api', ...to('v1', prefix('/api'), { ...prefix('/api'), method: 'GET' }) },
    { name: 'api-again', ...to('v2', { ...prefix('/api/') }) },
    { name: 'get', ...to('v2', { ...prefix('/api'), method: 'GET' }) },
  ]);
  assert.deepEqual(t.unreachable, [
    'route "api-again" matches[0] (PathPrefix /api) never matches: route "api" matches[0] (PathPrefix /api) for all hostnames always comes first',
    'route "get" matches[0] (PathPrefix /api) never matches: route "api" matches[1] (PathPrefix /api) for all hostnames always comes first',
  ]);
});

test('unreachable: every hostname of the route must be covered', () => {
  const both = table([
    { name: 'a', hostnames: ['a.com', 'b.com'], ...to('v1', exact('/x')) },
    { name: 'b', hostnames: ['b.com', 'a.com'], ...to('v2', { ...exact('/x'), headers: headers({ h: '1' }) }, exact('/y')) },
    { name: 'c', ...to('v1', { ...prefix('/'), queryParams: query({ q: '1' }) }) },
    { name: 'd', ...to('v1', { ...prefix('/'), queryParams: query({ q: '1' }), headers: headers({ h: '1' }) }) },
  ]);
  // b's first match has more headers, so it comes before a's: nothing hides it.
  assert.deepEqual(both.unreachable, []);
  const hidden = table([
    { name: 'a', hostnames: ['a.com', 'b.com'], ...to('v1', exact('/x')) },
    { name: 'b', hostnames: ['b.com', 'a.com'], ...to('v2', exact('/x')) },
  ]);
  assert.deepEqual(hidden.unreachable, [
    'route "b" matches[0] (Exact /x) never matches: route "a" matches[0] (Exact /x) for a.com; route "a" matches[0] (Exact /x) for b.com always comes first',
  ]);
  const partly = table([
    { name: 'a', hostnames: ['a.com'], ...to('v1', exact('/x')) },
    { name: 'b', hostnames: ['b.com', 'a.com'], ...to('v2', exact('/x')) },
    { name: 'c', hostnames: ['a.com'], ...to('v1', prefix('/')) },
    { name: 'd', ...to('v1', prefix('/')) },
    { name: 'e', hostnames: ['*.a.com'], ...to('v1', prefix('/')) },
  ]);
  // b still answers b.com; d answers every other host; e answers x.a.com: all reachable.
  assert.deepEqual(partly.unreachable, []);
});

test('unreachable: conditions must be a subset, and regexes compare by pattern', () => {
  const re = { path: { type: 'RegularExpression', value: '/v[0-9]' } };
  const t = table([
    { name: 'a', ...to('v1', { ...re, headers: headers({ x: '1' }) }) },
    { name: 'b', ...to('v1', { ...re, headers: headers({ x: '2' }) }) },
    { name: 'c', ...to('v1', { ...re, headers: headers({ X: '1' }) }) },
  ]);
  assert.deepEqual(t.unreachable, ['route "c" matches[0] (RegularExpression /v[0-9]) never matches: route "a" matches[0] (RegularExpression /v[0-9]) for all hostnames always comes first']);
});

test('describe() lists rules in precedence order, grouped by hostname', () => {
  const t = table([
    { name: 'web', hostnames: ['example.com'], ...to('v1', prefix('/'), exact('/login')) },
    { name: 'api', hostnames: ['*.example.com', 'example.com'], ...to('v2', { ...prefix('/api/'), method: 'POST', headers: headers({ 'X-Version': '2' }), queryParams: [{ type: 'RegularExpression', name: 'id', value: '[0-9]+' }] }) },
    { name: 'any', ...to('v3'), matches: [{ path: { type: 'RegularExpression', value: '/[a-z]+' } }, {}] },
    { name: 'dup', ...to('v3') },
  ]);
  assert.equal(
    t.describe(),
    [
      'example.com:',
      '  1. Exact /login -> route "web" matches[1]',
      '  2. PathPrefix /api method POST header x-version=2 query id~[0-9]+ -> route "api" matches[0]',
      '  3. PathPrefix / -> route "web" matches[0]',
      '*.example.com:',
      '  1. PathPrefix /api method POST header x-version=2 query id~[0-9]+ -> route "api" matches[0]',
      'all hostnames:',
      '  1. RegularExpression /[a-z]+ -> route "any" matches[0]',
      '  2. PathPrefix / -> route "any" matches[1]',
      '  3. PathPrefix / -> route "dup" matches[0]  (never matches)',
    ].join('\n'),
  );
  assert.equal(RouteTable.compile([]).describe(), 'no routes');
  assert.equal(RouteTable.compile([]).match('a.com', 'GET', '/', []), undefined);
});

test('proxyProtocolTlv: the connection\'s TLV must be there and match; such a rule comes before the same match without it', () => {
  const t = table([
    to('v1', prefix('/')),
    to('v2', { ...prefix('/'), proxyProtocolTlv: { type: 'authority', value: { value: 'a.example' } } }),
    to('v3', { ...prefix('/'), proxyProtocolTlv: { type: '0xE0', value: { type: 'RegularExpression', value: '00+01' } } }),
  ]);
  const tlv = (type: number, value: Buffer): Buffer => Buffer.concat([Buffer.from([type, 0, value.length]), value]);
  const at = (tlvs: Buffer | undefined): string | undefined => t.match(undefined, 'GET', '/x', [], { proxyTlvs: tlvs })?.route.backendRefs[0]?.name;
  assert.equal(at(undefined), 'v1', 'no TLVs: only the rule without a condition');
  assert.equal(at(tlv(0x02, Buffer.from('a.example'))), 'v2');
  assert.equal(at(tlv(0x02, Buffer.from('b.example'))), 'v1');
  assert.equal(at(tlv(0xe0, Buffer.from([0, 0, 1]))), 'v3', 'by number: the value in hex');
  assert.equal(at(tlv(0xe0, Buffer.from([0, 1, 1]))), 'v1', 'anchored: the whole value');
  assert.equal(t.unreachable.length, 0);
});
