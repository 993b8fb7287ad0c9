import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../config/errors.js';
import { parseRoutes, type RouteSpec } from './route-spec.js';
import { DEFAULT_LEVELS, DEFAULT_TYPES } from '../proxy/compression/index.js';

const POOLS = new Set(['api', 'web', 'mirror']);

function parse(routes: unknown): RouteSpec[] {
  return parseRoutes(routes, POOLS, 'lb.yaml');
}

/** One route named "r" sending to pool api, with `extra` merged over it. */
function route(extra: Record<string, unknown>): Record<string, unknown> {
  return { name: 'r', backendRefs: [{ name: 'api' }], ...extra };
}

function fails(routes: unknown, message: string): void {
  assert.throws(() => parse(routes), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.code, 'LB_ERR_CONFIG');
    assert.equal(err.message, message);
    return true;
  });
}

test('fills in Gateway API defaults', () => {
  assert.deepEqual(parse(undefined), []);
  const [r] = parse([{ name: 'r', hostnames: ['Example.COM', '*.Example.com'], matches: [{ path: { value: '/api/' } }, { headers: [{ name: 'X-A', value: '1' }] }], backendRefs: [{ name: 'api' }] }]);
  assert.deepEqual(r, {
    name: 'r',
    hostnames: ['example.com', '*.example.com'],
    matches: [
      { path: { type: 'PathPrefix', value: '/api' }, method: undefined, headers: [], queryParams: [] },
      { path: { type: 'PathPrefix', value: '/' }, method: undefined, headers: [{ type: 'Exact', name: 'x-a', value: '1' }], queryParams: [] },
    ],
    filters: [],
    backendRefs: [{ name: 'api', weight: 1 }],
  });
  assert.deepEqual(parse([route({})])[0]!.matches, [{ path: { type: 'PathPrefix', value: '/' }, method: undefined, headers: [], queryParams: [] }]);
});

test('parses every filter with its defaults', () => {
  const [r] = parse([
    route({
      matches: [{ path: { type: 'PathPrefix', value: '/old' } }],
      filters: [
        { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-A', value: '1' }], add: [{ name: 'X-B', value: '' }], remove: ['X-C'] } },
        { type: 'ResponseHeaderModifier', responseHeaderModifier: { remove: ['Server'] } },
        { type: 'URLRewrite', urlRewrite: { hostname: 'Internal.example', path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/new' } } },
        { type: 'RequestMirror', requestMirror: { backendRef: { name: 'mirror' } } },
        { type: 'RequestMirror', requestMirror: { backendRef: { name: 'web' }, percent: 10 } },
      ],
      backendRefs: [{ name: 'api', weight: 3 }, { name: 'web', weight: 0 }],
    }),
  ]);
  assert.deepEqual(r!.filters, [
    { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-A', value: '1' }], add: [{ name: 'X-B', value: '' }], remove: ['X-C'] } },
    { type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [], add: [], remove: ['Server'] } },
    { type: 'URLRewrite', urlRewrite: { hostname: 'internal.example', path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/new' } } },
    { type: 'RequestMirror', requestMirror: { backendRef: { name: 'mirror' }, percent: 100 } },
    { type: 'RequestMirror', requestMirror: { backendRef: { name: 'web' }, percent: 10 } },
  ]);
  assert.deepEqual(r!.backendRefs, [{ name: 'api', weight: 3 }, { name: 'web', weight: 0 }]);
  const [redirect, direct] = parse([
    { name: 'redirect', filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https', port: 443 } }] },
    { name: 'direct', filters: [{ type: 'DirectResponse', directResponse: { statusCode: 503 } }] },
  ]);
  assert.deepEqual(redirect!.filters, [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https', port: 443, statusCode: 302 } }]);
  assert.deepEqual(direct!.filters, [{ type: 'DirectResponse', directResponse: { statusCode: 503, body: '', contentType: 'text/plain; charset=utf-8', headers: [] } }]);
  assert.deepEqual(direct!.backendRefs, []);
});

test('the routes section and route names', () => {
  fails({ name: 'r' }, 'invalid routes {"name":"r"} in lb.yaml: expected a list of routes ({ name, hostnames, matches, filters, backendRefs })');
  fails(['r'], 'invalid route routes[0] "r" in lb.yaml: expected an object with keys name, hostnames, matches, filters, backendRefs, hooks');
  fails([{ backendRefs: [{ name: 'api' }] }], 'invalid route routes[0] name is missing in lb.yaml: expected a route name: lowercase letters, digits, - and ., starting and ending with a letter or digit, at most 253 characters');
  fails([route({ name: 'My_Route' })], 'invalid route "My_Route" name "My_Route" in lb.yaml: expected a route name: lowercase letters, digits, - and ., starting and ending with a letter or digit, at most 253 characters');
  fails([route({}), route({})], 'invalid route routes[1] name "r" in lb.yaml: expected a name no other route uses');
  fails([route({ host: 'a' })], 'invalid route "r" host is not a known key in lb.yaml: expected one of name, hostnames, matches, filters, backendRefs, hooks');
  assert.throws(() => parseRoutes([route({ name: 'bad name' })], POOLS, undefined), { message: /^invalid route "bad name" name "bad name": expected a route name/ });
});

test('hostnames: DNS names or *. wildcards, no IP, no port, each once', () => {
  const expected = 'expected a DNS name or *. and a DNS name (letters, digits, - and ., no IP address, no port)';
  fails([route({ hostnames: ['10.0.0.1'] })], `invalid route "r" hostnames[0] "10.0.0.1" in lb.yaml: ${expected}`);
  fails([route({ hostnames: ['example.com:8080'] })], `invalid route "r" hostnames[0] "example.com:8080" in lb.yaml: ${expected}`);
  fails([route({ hostnames: ['a.com', 'foo.*.com'] })], `invalid route "r" hostnames[1] "foo.*.com" in lb.yaml: ${expected}`);
  fails([route({ hostnames: ['*.'] })], `invalid route "r" hostnames[0] "*." in lb.yaml: ${expected}`);
  fails([route({ hostnames: ['*.1.2.3.4'] })], `invalid route "r" hostnames[0] "*.1.2.3.4" in lb.yaml: ${expected}`);
  fails([route({ hostnames: ['-a.com'] })], `invalid route "r" hostnames[0] "-a.com" in lb.yaml: ${expected}`);
  fails([route({ hostnames: 'a.com' })], 'invalid route "r" hostnames "a.com" in lb.yaml: expected a list of hostnames');
  fails([route({ hostnames: ['a.com', 'A.com'] })], 'invalid route "r" hostnames[1] "A.com" in lb.yaml: expected each hostname once');
});

test('paths: type, absolute value, Gateway API grammar, regexes that compile', () => {
  fails([route({ matches: [{ path: { type: 'Prefixx', value: '/' } }] })], 'invalid route "r" matches[0].path.type "Prefixx" in lb.yaml: expected one of Exact, PathPrefix, RegularExpression');
  const grammar = "expected an absolute path: starts with /, characters A-Z a-z 0-9 -._~!$&'()*+,;=:@ or %XX, no //, /./, /../, %2F or #, not ending in /. or /..";
  for (const bad of ['api', '/a//b', '/a/../b', '/a%2Fb', '/a#b', '/a b', '/a/.', '/a%zz']) {
    fails([route({ matches: [{ path: { type: 'Exact', value: bad } }] })], `invalid route "r" matches[0].path.value ${JSON.stringify(bad)} in lb.yaml: ${grammar}`);
  }
  assert.throws(() => parse([route({ matches: [{ path: { type: 'RegularExpression', value: '/v(' } }] })]), {
    message: /^invalid route "r" matches\[0\]\.path\.value "\/v\(" in lb\.yaml: expected a valid regular expression \(.+\)$/,
  });
  fails([route({ matches: [{ path: { type: 'RegularExpression' } }] })], 'invalid route "r" matches[0].path.value is missing in lb.yaml: expected a regular expression matched against the whole path');
  fails([route({ matches: [{ pth: {} }] })], 'invalid route "r" matches[0].pth is not a known key in lb.yaml: expected one of path, method, headers, queryParams, clientCertificate, proxyProtocolTlv, jwtClaims');
  fails([route({ matches: [{ path: { type: 'Exact', value: '/', regex: true } }] })], 'invalid route "r" matches[0].path.regex is not a known key in lb.yaml: expected one of type, value');
});

test('methods, headers and query parameters', () => {
  fails([route({ matches: [{ method: 'get' }] })], 'invalid route "r" matches[0].method "get" in lb.yaml: expected one of GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH');
  fails([route({ matches: [{ headers: [{ value: 'x' }] }] })], 'invalid route "r" matches[0].headers[0].name is missing in lb.yaml: expected a header name (an RFC 9110 token: letters, digits and !#$%&\'*+-.^_`|~)');
  fails([route({ matches: [{ headers: [{ name: 'X A', value: 'x' }] }] })], 'invalid route "r" matches[0].headers[0].name "X A" in lb.yaml: expected a header name (an RFC 9110 token: letters, digits and !#$%&\'*+-.^_`|~)');
  fails([route({ matches: [{ headers: [{ name: 'x', value: 'a\r\nb' }] }] })], 'invalid route "r" matches[0].headers[0].value "a\\r\\nb" in lb.yaml: expected a non-empty string without CR, LF or NUL');
  fails([route({ matches: [{ headers: [{ name: 'x', value: 'a', type: 'Prefix' }] }] })], 'invalid route "r" matches[0].headers[0].type "Prefix" in lb.yaml: expected one of Exact, RegularExpression');
  // Gateway API lets only the first condition on a name count; we reject the second instead.
  fails([route({ matches: [{ headers: [{ name: 'X-A', value: '1' }, { name: 'x-a', value: '2' }] }] })], 'invalid route "r" matches[0].headers[1].name "x-a" in lb.yaml: expected each header (case-insensitive) once per match');
  fails([route({ matches: [{ queryParams: [{ name: 'a', value: '1' }, { name: 'a', value: '2' }] }] })], 'invalid route "r" matches[0].queryParams[1].name "a" in lb.yaml: expected each query parameter once per match');
  assert.equal(parse([route({ matches: [{ queryParams: [{ name: 'a', value: '1' }, { name: 'A', value: '2' }] }] })])[0]!.matches[0]!.queryParams.length, 2);
  assert.throws(() => parse([route({ matches: [{ queryParams: [{ name: 'a', value: '[', type: 'RegularExpression' }] }] })]), { message: /^invalid route "r" matches\[0\]\.queryParams\[0\]\.value "\[" in lb\.yaml: expected a valid regular expression/ });
});

test('backendRefs: known pools, integer weights, at least one unless the route answers itself', () => {
  fails([route({ backendRefs: [{ name: 'nope' }] })], 'invalid route "r" backendRefs[0].name "nope" in lb.yaml: expected one of the pools api, mirror, web');
  fails([route({ backendRefs: [{ name: 'api', weight: 1.5 }] })], 'invalid route "r" backendRefs[0].weight 1.5 in lb.yaml: expected an integer from 0 to 1000000');
  fails([route({ backendRefs: [{ name: 'api', weight: 1_000_001 }] })], 'invalid route "r" backendRefs[0].weight 1000001 in lb.yaml: expected an integer from 0 to 1000000');
  fails([route({ backendRefs: [{ name: 'api', port: 80 }] })], 'invalid route "r" backendRefs[0].port is not a known key in lb.yaml: expected one of name, weight');
  fails([{ name: 'r' }], 'invalid route "r" backendRefs is missing in lb.yaml: expected at least one backend reference ({ name: POOL }), or a RequestRedirect or DirectResponse filter');
  fails([route({ backendRefs: [] })], 'invalid route "r" backendRefs is missing in lb.yaml: expected at least one backend reference ({ name: POOL }), or a RequestRedirect or DirectResponse filter');
  assert.throws(() => parseRoutes([route({})], new Set(), undefined), { message: 'invalid route "r" backendRefs[0].name "api": expected a pool name (no pools are defined)' });
  // All weights 0 is kept: the request gets a 500, as in Gateway API.
  assert.deepEqual(parse([route({ backendRefs: [{ name: 'api', weight: 0 }] })])[0]!.backendRefs, [{ name: 'api', weight: 0 }]);
});

test('filters: type, its own key and no other, one of each but RequestMirror', () => {
  fails([route({ filters: [{ type: 'Rewrite' }] })], 'invalid route "r" filters[0].type "Rewrite" in lb.yaml: expected one of RequestHeaderModifier, ResponseHeaderModifier, URLRewrite, RequestRedirect, RequestMirror, DirectResponse, BasicAuth, ForwardAuth, JWT, AccessList, RateLimit, Compression, ClientCertificate');
  fails([route({ filters: [{ type: 'URLRewrite' }] })], 'invalid route "r" filters[0].urlRewrite is missing in lb.yaml: expected the settings of the URLRewrite filter');
  fails([route({ filters: [{ type: 'URLRewrite', urlRewrite: { hostname: 'a.com' }, requestRedirect: {} }] })], 'invalid route "r" filters[0].requestRedirect is not a known key in lb.yaml: expected one of type, urlRewrite');
  const rhm = { type: 'RequestHeaderModifier', requestHeaderModifier: { remove: ['x'] } };
  fails([route({ filters: [rhm, rhm] })], 'invalid route "r" filters[1].type "RequestHeaderModifier" in lb.yaml: expected at most one RequestHeaderModifier filter per route (filters[0] is one)');
  fails([route({ filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-A', value: 'a\nb' }] } }] })], 'invalid route "r" filters[0].requestHeaderModifier.set[0].value "a\\nb" in lb.yaml: expected a string without CR, LF or NUL');
  fails([route({ filters: [{ type: 'ResponseHeaderModifier', responseHeaderModifier: { add: [{ name: 'X:A', value: '1' }] } }] })], 'invalid route "r" filters[0].responseHeaderModifier.add[0].name "X:A" in lb.yaml: expected a header name (an RFC 9110 token: letters, digits and !#$%&\'*+-.^_`|~)');
  fails([route({ filters: [{ type: 'ResponseHeaderModifier', responseHeaderModifier: { remove: ['X-A', 'x-a'] } }] })], 'invalid route "r" filters[0].responseHeaderModifier.remove[1] "x-a" in lb.yaml: expected each header name once (case-insensitive)');
  fails([route({ filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'other' } } }] })], 'invalid route "r" filters[0].requestMirror.backendRef.name "other" in lb.yaml: expected one of the pools api, mirror, web');
  fails([route({ filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'mirror' }, percent: 101 } }] })], 'invalid route "r" filters[0].requestMirror.percent 101 in lb.yaml: expected an integer from 0 to 100');
});

test('filters: redirects, rewrites and direct responses', () => {
  const redirect = (requestRedirect: unknown) => [{ name: 'r', filters: [{ type: 'RequestRedirect', requestRedirect }] }];
  fails(redirect({ statusCode: 304 }), 'invalid route "r" filters[0].requestRedirect.statusCode 304 in lb.yaml: expected one of 301, 302, 303, 307, 308');
  fails(redirect({ scheme: 'ftp' }), 'invalid route "r" filters[0].requestRedirect.scheme "ftp" in lb.yaml: expected one of http, https');
  fails(redirect({ port: 0 }), 'invalid route "r" filters[0].requestRedirect.port 0 in lb.yaml: expected an integer from 1 to 65535');
  fails(redirect({ hostname: '*.a.com' }), 'invalid route "r" filters[0].requestRedirect.hostname "*.a.com" in lb.yaml: expected a DNS name (letters, digits, - and ., no IP address, no port)');
  fails(redirect({ path: { type: 'ReplaceFullPath', replacePrefixMatch: '/x' } }), 'invalid route "r" filters[0].requestRedirect.path.replacePrefixMatch is not a known key in lb.yaml: expected one of type, replaceFullPath');
  fails(redirect({ path: { type: 'ReplaceFullPath', replaceFullPath: 'x' } }), 'invalid route "r" filters[0].requestRedirect.path.replaceFullPath "x" in lb.yaml: expected an absolute path starting with /, without spaces, ? or #');
  fails(
    [route({ filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https' } }] })],
    'invalid route "r" backendRefs [{"name":"api"}] in lb.yaml: expected no backend references: filters[0] (RequestRedirect) answers the request itself',
  );
  fails(
    [route({ filters: [{ type: 'DirectResponse', directResponse: { statusCode: 200 } }] })],
    'invalid route "r" backendRefs [{"name":"api"}] in lb.yaml: expected no backend references: filters[0] (DirectResponse) answers the request itself',
  );
  fails(
    [{ name: 'r', filters: [{ type: 'RequestRedirect', requestRedirect: {} }, { type: 'DirectResponse', directResponse: { statusCode: 200 } }] }],
    'invalid route "r" filters[1].type "DirectResponse" in lb.yaml: expected either RequestRedirect or DirectResponse, not both',
  );
  fails(
    [{ name: 'r', filters: [{ type: 'URLRewrite', urlRewrite: { hostname: 'a.com' } }, { type: 'RequestRedirect', requestRedirect: {} }] }],
    'invalid route "r" filters[1].type "RequestRedirect" in lb.yaml: expected either RequestRedirect or URLRewrite, not both',
  );
  // ReplacePrefixMatch replaces the matched prefix: every match must have one (the default match does).
  const prefixRewrite = { type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/v2' } } };
  fails(
    [route({ matches: [{ path: { value: '/v1' } }, { path: { type: 'Exact', value: '/old' } }], filters: [prefixRewrite] })],
    'invalid route "r" matches[1].path.type "Exact" in lb.yaml: expected PathPrefix: filters[0] replaces the matched prefix, so every match needs one',
  );
  assert.equal(parse([route({ filters: [prefixRewrite] })])[0]!.filters.length, 1);
  fails([route({ filters: [{ type: 'URLRewrite', urlRewrite: {} }] })], 'invalid route "r" filters[0].urlRewrite.hostname is missing in lb.yaml: expected a hostname or a path (or both) to rewrite');
  const direct = (directResponse: unknown) => [{ name: 'r', filters: [{ type: 'DirectResponse', directResponse }] }];
  fails(direct({}), 'invalid route "r" filters[0].directResponse.statusCode is missing in lb.yaml: expected an integer from 200 to 599');
  fails(direct({ statusCode: 199 }), 'invalid route "r" filters[0].directResponse.statusCode 199 in lb.yaml: expected an integer from 200 to 599');
  fails(direct({ statusCode: 200, body: 5 }), 'invalid route "r" filters[0].directResponse.body 5 in lb.yaml: expected a string');
  fails(direct({ statusCode: 200, headers: [{ name: 'X-A', value: '\0' }] }), 'invalid route "r" filters[0].directResponse.headers[0].value "\\u0000" in lb.yaml: expected a string without CR, LF or NUL');
});

test('AccessList (ours): allow and deny lists of CIDRs, at least one of them', () => {
  const [r] = parse([route({ filters: [{ type: 'AccessList', accessList: { allow: ['10.0.0.0/8', '2001:db8::/32'], deny: ['10.66.0.0/16'] } }] })]);
  assert.deepEqual(r!.filters, [{ type: 'AccessList', accessList: { allow: ['10.0.0.0/8', '2001:db8::/32'], deny: ['10.66.0.0/16'] } }]);
  assert.deepEqual(parse([route({ filters: [{ type: 'AccessList', accessList: { deny: ['::1'] } }] })])[0]!.filters, [{ type: 'AccessList', accessList: { allow: [], deny: ['::1'] } }]);
  fails([route({ filters: [{ type: 'AccessList', accessList: {} }] })], 'invalid route "r" filters[0].accessList.allow is missing in lb.yaml: expected networks to allow or deny (or both)');
  fails([route({ filters: [{ type: 'AccessList', accessList: { deny: ['10.0.0.1/8'] } }] })],
    'invalid route "r" filters[0].accessList.deny[0] "10.0.0.1/8" in lb.yaml: expected IPv4 or IPv6 networks in CIDR notation with the host bits zero, such as 10.0.0.0/8, 192.168.1.7 or fd00::/8');
  fails([route({ filters: [{ type: 'AccessList', accessList: { allow: '10.0.0.0/8' } }] })], 'invalid route "r" filters[0].accessList.allow "10.0.0.0/8" in lb.yaml: expected a list of networks in CIDR notation');
});

test('Compression: off, or codings, types, minimum size and levels over the built-in defaults', () => {
  const [off] = parse([route({ filters: [{ type: 'Compression', compression: 'off' }] })]);
  assert.deepEqual(off!.filters[0], { type: 'Compression', compression: { encodings: [], types: DEFAULT_TYPES, minSize: 1024, levels: DEFAULT_LEVELS } });
  const [no] = parse([route({ filters: [{ type: 'Compression', compression: false }] })]);
  assert.deepEqual(no!.filters[0], off!.filters[0], 'YAML 1.1 reads off as false');
  const [on] = parse([route({ filters: [{ type: 'Compression', compression: { encodings: ['gzip'], minSize: 10, types: ['text/*'], levels: 'gzip:9' } }] })]);
  assert.deepEqual(on!.filters[0], { type: 'Compression', compression: { encodings: ['gzip'], types: ['text/*'], minSize: 10, levels: { ...DEFAULT_LEVELS, gzip: 9 } } });
  const [bare] = parse([route({ filters: [{ type: 'Compression', compression: {} }] })]);
  assert.deepEqual((bare!.filters[0] as { compression: { encodings: unknown } }).compression.encodings, ['br', 'gzip']);
  fails([route({ filters: [{ type: 'Compression', compression: { encodings: ['deflate'] } }] })],
    'invalid route "r" filters[0].compression.encodings ["deflate"] in lb.yaml: expected off, or codings from br, gzip, zstd in order of preference, comma-separated (such as br,gzip)');
  fails([route({ filters: [{ type: 'Compression', compression: { level: 3 } }] })],
    'invalid route "r" filters[0].compression.level is not a known key in lb.yaml: expected one of encodings, types, minSize, levels');
  fails([{ name: 'r', filters: [{ type: 'DirectResponse', directResponse: { statusCode: 200 } }, { type: 'Compression', compression: 'off' }] }],
    'invalid route "r" filters[1].type "Compression" in lb.yaml: expected no Compression beside DirectResponse, which answers the request itself (the filter would do nothing)');
});

test('hooks: a list of module paths, resolved from the config file\'s folder; absent, none', () => {
  const [withHooks] = parseRoutes([route({ hooks: ['./h.js', '/abs/g.js'] })], POOLS, '/etc/lb/lb.yaml');
  assert.deepEqual(withHooks!.hooks, ['/etc/lb/h.js', '/abs/g.js']);
  assert.equal(parse([route({})])[0]!.hooks, undefined);
  fails([route({ hooks: './h.js' })], 'invalid route "r" hooks "./h.js" in lb.yaml: expected a list of paths of hook modules');
  fails([route({ hooks: [''] })], 'invalid route "r" hooks[0] "" in lb.yaml: expected the path of an ES module');
});

test('proxyProtocolTlv: a TLV by name or number, Exact or RegularExpression; a bad type or value names the field', () => {
  const [r] = parse([route({ matches: [{ proxyProtocolTlv: { type: 0xea, value: { value: 'x' } } }, { proxyProtocolTlv: { type: 'Authority', value: { type: 'RegularExpression', value: 'a.*' } } }] })]);
  assert.deepEqual(r!.matches.map((m) => m.proxyProtocolTlv), [{ tlv: '0xea', type: 'Exact', value: 'x' }, { tlv: 'authority', type: 'RegularExpression', value: 'a.*' }]);
  assert.throws(() => parse([route({ matches: [{ proxyProtocolTlv: { type: 'vpc', value: { value: 'x' } } }] })]), /matches\[0\]\.proxyProtocolTlv\.type "vpc".*0x00 to 0xff/);
  assert.throws(() => parse([route({ matches: [{ proxyProtocolTlv: { type: 'authority', value: { type: 'RegularExpression', value: '(' } } }] })]), /matches\[0\]\.proxyProtocolTlv\.value\.value/);
});

test('jwtClaims: a route matching on claims needs its own JWT filter; each claim once', () => {
  const jwt = { type: 'JWT', jwt: { jwksUrl: 'http://127.0.0.1:1/jwks' } };
  const [r] = parse([route({ matches: [{ jwtClaims: [{ name: 'role', value: 'admin' }] }], filters: [jwt] })]);
  assert.deepEqual(r!.matches[0]!.jwtClaims, [{ type: 'Exact', name: 'role', value: 'admin' }]);
  assert.throws(() => parse([route({ matches: [{ jwtClaims: [{ name: 'role', value: 'admin' }] }] })]), /matches\[0\]\.jwtClaims .*a route with a JWT filter/);
  assert.throws(() => parse([route({ matches: [{ jwtClaims: [{ name: 'role', value: 'a' }, { name: 'role', value: 'b' }] }], filters: [jwt] })]), /jwtClaims\[1\]\.name "role".*each claim once/);
});
