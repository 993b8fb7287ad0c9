import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { startBackend, type Handler, type TestBackend } from './helpers/backend.js';
import { get, rawExchange } from './helpers/http.js';
import { startInProcess } from './helpers/in-process-lb.js';
import { until } from './helpers/in-process.js';
import { ENGINE_INDEPENDENT, runLb } from './helpers/lb.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The first health check of every pool runs at start-up, all at once: on a busy machine one may
 * take longer than the default second, and its pool would start with no backend up.
 */
const CHECKS = { HEALTH_CHECK_TIMEOUT: '10s' };

/** Answers JSON: which backend, the path it was asked for, the headers it got. */
const echo: Handler = (req, res, backend) => {
  req.resume();
  res.setHeader('server', 'echo/1');
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ name: backend.name, url: req.url, method: req.method, headers: req.headers }));
};

interface Echo { name: string; url: string; method: string; headers: Record<string, string> }

async function backends(t: { after(fn: () => unknown): void }, names: readonly string[], handler: Handler = echo): Promise<Record<string, TestBackend>> {
  const started = await Promise.all(names.map((n) => startBackend(n, handler)));
  for (const b of started) t.after(() => b.close());
  return Object.fromEntries(started.map((b) => [b.name, b]));
}

/** A request to the balancer with a Host and optional headers; the body parsed when JSON. */
async function ask(port: number, host: string, path: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; headers: IncomingMessage['headers']; body: string; echo?: Echo }> {
  const res = await get(`http://127.0.0.1:${port}${path}`, { method: options.method, headers: { host, ...options.headers } });
  let parsed: Echo | undefined;
  if (res.headers['content-type'] === 'application/json') parsed = JSON.parse(res.body) as Echo;
  return { status: res.status, headers: res.headers, body: res.body, echo: parsed };
}

test('routes pick the pool by host, path, method, headers and query, with HTTPRoute precedence', async (t) => {
  const b = await backends(t, ['api', 'api-v2', 'web', 'exact', 'tenant', 'fallback']);
  const lb = await startInProcess({ ...CHECKS, BACKENDS: b.fallback!.url }, t, () => ({
    pools: {
      api: { backends: [b.api!.url] }, 'api-v2': { backends: [b['api-v2']!.url] }, web: { backends: [b.web!.url] },
      exact: { backends: [b.exact!.url] }, tenant: { backends: [b.tenant!.url] },
    },
    routes: [
      { name: 'web', hostnames: ['*.example.com', 'example.com'], backendRefs: [{ name: 'web' }] },
      { name: 'api', hostnames: ['api.example.com'], matches: [{ path: { type: 'PathPrefix', value: '/v1' } }], backendRefs: [{ name: 'api' }] },
      { name: 'api-v2', hostnames: ['api.example.com'], matches: [{ path: { type: 'PathPrefix', value: '/v1/beta' } }, { path: { type: 'PathPrefix', value: '/v2' }, method: 'POST' }], backendRefs: [{ name: 'api-v2' }] },
      { name: 'exact', matches: [{ path: { type: 'Exact', value: '/status' } }], backendRefs: [{ name: 'exact' }] },
      { name: 'tenant', matches: [{ path: { type: 'PathPrefix', value: '/' }, headers: [{ name: 'X-Tenant', value: 'acme' }], queryParams: [{ name: 'debug', value: '1' }] }], backendRefs: [{ name: 'tenant' }] },
    ],
  }));
  const cases: [host: string, path: string, options: { method?: string; headers?: Record<string, string> }, pool: string][] = [
    ['api.example.com', '/v1/users', {}, 'api'],
    ['api.example.com:8080', '/v1', {}, 'api'],
    ['API.Example.COM', '/v1?x=1', {}, 'api'],
    // Longest prefix wins; prefixes are element-wise.
    ['api.example.com', '/v1/beta/x', {}, 'api-v2'],
    ['api.example.com', '/v1beta', {}, 'web'],
    // The method is part of the match.
    ['api.example.com', '/v2/x', { method: 'POST' }, 'api-v2'],
    ['api.example.com', '/v2/x', {}, 'web'],
    // The more specific hostname wins, and a request it does not match falls through to the wildcard.
    ['www.example.com', '/v1/users', {}, 'web'],
    ['example.com', '/anything', {}, 'web'],
    // Routes without hostnames serve every host.
    ['other.test', '/status', {}, 'exact'],
    ['other.test', '/status/x', {}, 'fallback'],
    ['other.test', '/x?debug=1', { headers: { 'x-tenant': 'acme' } }, 'tenant'],
    ['other.test', '/x?debug=2', { headers: { 'x-tenant': 'acme' } }, 'fallback'],
    ['other.test', '/x?debug=1', { headers: { 'x-tenant': 'ACME' } }, 'fallback'],
  ];
  for (const [host, path, options, pool] of cases) {
    const res = await ask(lb.port, host, path, options);
    assert.equal(res.status, 200, `${host}${path}`);
    assert.equal(res.echo?.name, pool, `${options.method ?? 'GET'} ${host}${path} ${JSON.stringify(options.headers ?? {})}`);
  }
  const line = lb.logs.find((l) => l.msg === 'request completed' && l.route === 'api-v2');
  assert.ok(line === undefined || line.pool === 'api-v2');
});

test('a request no route matches gets 404 with LB_ERR_NO_ROUTE when there is no default pool', async (t) => {
  const b = await backends(t, ['api']);
  const lb = await startInProcess({ ...CHECKS }, t, () => ({
    pools: { api: { backends: [b.api!.url] } },
    routes: [{ name: 'api', matches: [{ path: { type: 'PathPrefix', value: '/api' } }], backendRefs: [{ name: 'api' }] }],
  }));
  assert.equal((await ask(lb.port, 'x.test', '/api/1')).echo?.name, 'api');
  const res = await ask(lb.port, 'x.test', '/other');
  assert.equal(res.status, 404);
  assert.equal(res.body, '404 Not Found\n');
  assert.ok(res.headers['x-request-id']);
  await lb.waitForLog((l) => l.error === 'LB_ERR_NO_ROUTE' && l.status === 404);
  // `OPTIONS *` asks about the server, not a route: the balancer answers it whatever the routes.
  const options = await rawExchange(lb.port, 'OPTIONS * HTTP/1.1\r\nHost: x.test\r\nConnection: close\r\n\r\n');
  assert.match(options, /^HTTP\/1\.1 200 /);
});

test('filters: header modifiers, URL rewrites, redirects and direct responses', async (t) => {
  const b = await backends(t, ['api']);
  const lb = await startInProcess({ ...CHECKS }, t, () => ({
    pools: { api: { backends: [b.api!.url] } },
    routes: [
      {
        name: 'api', hostnames: ['api.example.com'], matches: [{ path: { type: 'PathPrefix', value: '/v1' } }],
        filters: [
          { type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/' } } },
          { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-env', value: 'prod' }], add: [{ name: 'x-via', value: 'lb' }], remove: ['x-debug'] } },
          { type: 'ResponseHeaderModifier', responseHeaderModifier: { remove: ['server'], add: [{ name: 'x-route', value: 'api' }] } },
        ],
        backendRefs: [{ name: 'api' }],
      },
      {
        name: 'full', hostnames: ['full.example.com'],
        filters: [{ type: 'URLRewrite', urlRewrite: { hostname: 'internal.svc', path: { type: 'ReplaceFullPath', replaceFullPath: '/fixed' } } }],
        backendRefs: [{ name: 'api' }],
      },
      { name: 'old-docs', matches: [{ path: { type: 'PathPrefix', value: '/docs' } }], filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https', hostname: 'docs.example.com', statusCode: 301 } }] },
      { name: 'same-scheme', matches: [{ path: { type: 'PathPrefix', value: '/same' } }], filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'http', statusCode: 308 } }] },
      { name: 'moved', matches: [{ path: { type: 'PathPrefix', value: '/old' } }], filters: [{ type: 'RequestRedirect', requestRedirect: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/new' } } }] },
      { name: 'health', matches: [{ path: { type: 'Exact', value: '/healthz' } }], filters: [{ type: 'DirectResponse', directResponse: { statusCode: 200, body: 'ok\n', headers: [{ name: 'cache-control', value: 'no-store' }] } }] },
    ],
  }));
  const rewritten = await ask(lb.port, 'api.example.com', '/v1/users?id=7', { headers: { 'x-env': 'dev', 'x-debug': '1', 'x-via': 'client' } });
  assert.equal(rewritten.echo?.url, '/users?id=7');
  assert.equal(rewritten.echo?.headers['x-env'], 'prod');
  assert.equal(rewritten.echo?.headers['x-via'], 'client, lb');
  assert.equal(rewritten.echo?.headers['x-debug'], undefined);
  assert.equal(rewritten.headers.server, undefined);
  assert.equal(rewritten.headers['x-route'], 'api');
  assert.equal((await ask(lb.port, 'api.example.com', '/v1')).echo?.url, '/');
  const full = await ask(lb.port, 'full.example.com', '/a/b?q=1');
  assert.equal(full.echo?.url, '/fixed?q=1');
  assert.equal(full.echo?.headers.host, 'internal.svc');
  assert.equal(full.echo?.headers['x-forwarded-host'], 'internal.svc');

  const redirect = await ask(lb.port, 'www.example.com:8080', '/docs/intro?x=1');
  assert.equal(redirect.status, 301);
  assert.equal(redirect.headers.location, 'https://docs.example.com/docs/intro?x=1');
  // HTTPRoute: a scheme given and no port, the scheme's well-known port (left out).
  const same = await ask(lb.port, 'www.example.com:8080', '/same/x');
  assert.equal(same.status, 308);
  assert.equal(same.headers.location, 'http://www.example.com/same/x');
  const moved = await ask(lb.port, 'www.example.com:8080', '/old/page');
  assert.equal(moved.status, 302);
  assert.equal(moved.headers.location, 'http://www.example.com:8080/new/page');

  const direct = await ask(lb.port, 'any.test', '/healthz');
  assert.equal(direct.status, 200);
  assert.equal(direct.body, 'ok\n');
  assert.equal(direct.headers['content-type'], 'text/plain; charset=utf-8');
  assert.equal(direct.headers['cache-control'], 'no-store');
  // Answers made here keep the connection open: two on one connection, the second answered.
  const two = await rawExchange(lb.port, 'GET /healthz HTTP/1.1\r\nHost: a.test\r\n\r\nGET /docs/x HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n', 2);
  assert.match(two, /^HTTP\/1\.1 200 [^]*\r\n\r\nok\nHTTP\/1\.1 301 /);
  assert.doesNotMatch(two.slice(0, two.indexOf('ok\n')), /connection: close/i);
  // HTTP/1.0 without a Host: a Location relative to the request, never `http:///`.
  const noHost = await rawExchange(lb.port, 'GET /old/a HTTP/1.0\r\n\r\n');
  assert.match(noHost, /\r\nlocation: \/new\/a\r\n/i);
  // Answered here, by no pool: the access line names the route and no pool.
  const line = await lb.waitForLog((l) => l.route === 'health' && l.status === 200);
  assert.equal(line.pool, undefined);
  // Nothing of these reached the backend.
  assert.equal(b.api!.requests.filter((r) => r.url === '/healthz' || r.url?.startsWith('/docs') === true).length, 0);
});

test('backendRefs weights split traffic smoothly: 90/10 over 1,000 requests, weight 0 is off', async (t) => {
  const b = await backends(t, ['web', 'next', 'off']);
  const lb = await startInProcess({ ...CHECKS }, t, () => ({
    pools: { web: { backends: [b.web!.url] }, next: { backends: [b.next!.url] }, off: { backends: [b.off!.url] } },
    routes: [
      { name: 'web', matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [{ name: 'web', weight: 90 }, { name: 'next', weight: 10 }, { name: 'off', weight: 0 }] },
      { name: 'none', matches: [{ path: { type: 'PathPrefix', value: '/none' } }], backendRefs: [{ name: 'off', weight: 0 }] },
    ],
  }));
  const counts: Record<string, number> = {};
  let longestRun = 0;
  let run = 0;
  for (let i = 0; i < 1000; i++) {
    const name = (await ask(lb.port, 'x.test', '/')).echo!.name;
    counts[name] = (counts[name] ?? 0) + 1;
    run = name === 'next' ? run + 1 : 0;
    longestRun = Math.max(longestRun, run);
  }
  assert.deepEqual(counts, { web: 900, next: 100 });
  assert.equal(longestRun, 1, 'the small share is spread, never bunched');
  const none = await ask(lb.port, 'x.test', '/none');
  assert.equal(none.status, 500);
  await lb.waitForLog((l) => l.error === 'LB_ERR_NO_WEIGHT');
});

test('mirrors: copies reach the mirror pool (small bodies too); a mirror that hangs, resets or is down does not affect the client', async (t) => {
  const b = await backends(t, ['api', 'shadow']);
  const bodies: string[] = [];
  const shadowBodies = await startBackend('shadow-bodies', (req, res) => {
    let body = '';
    req.setEncoding('latin1');
    req.on('data', (c: string) => { body += c; });
    req.on('end', () => { if (req.url !== '/health') bodies.push(body); res.end('ok'); });
  });
  // Healthy to the checks, but the copies they get hang, or have their connection reset.
  const hanging = await startBackend('hanging', (req, res) => { req.resume(); if (req.url === '/health') res.end('ok'); });
  const resetting = await startBackend('resetting', (req, res) => { req.resume(); if (req.url === '/health') res.end('ok'); else req.socket.destroy(); });
  const refusing = await startBackend('refusing');
  const refusingUrl = refusing.url;
  await refusing.close();
  for (const backend of [shadowBodies, hanging, resetting]) t.after(() => backend.close());
  const lb = await startInProcess({ ...CHECKS, PROXY_TIMEOUT: '30s', HEALTH_CHECK_PATH: '/health' }, t, () => ({
    pools: {
      api: { backends: [b.api!.url] }, shadow: { backends: [b.shadow!.url] }, bodies: { backends: [shadowBodies.url] },
      hanging: { backends: [hanging.url] }, resetting: { backends: [resetting.url] }, down: { backends: [refusingUrl] },
    },
    routes: [{
      name: 'api', matches: [{ path: { type: 'PathPrefix', value: '/' } }],
      filters: ['shadow', 'bodies', 'hanging', 'resetting', 'down'].map((name) => ({ type: 'RequestMirror', requestMirror: { backendRef: { name } } })),
      backendRefs: [{ name: 'api' }],
    }],
  }));
  for (let i = 0; i < 20; i++) {
    const res = await ask(lb.port, 'x.test', `/get/${i}`);
    assert.equal(res.status, 200);
    assert.equal(res.echo?.name, 'api');
  }
  await until(() => b.shadow!.requests.filter((r) => r.url?.startsWith('/get/') === true).length === 20, 'the shadow pool got every copy');
  await until(() => hanging.requests.filter((r) => r.url?.startsWith('/get/') === true).length === 20, 'the hanging pool got every copy');
  const post = async (body: string, headers: Record<string, string> = {}): Promise<number> => new Promise<number>((resolve, reject) => {
    const req = httpRequest({ port: lb.port, host: '127.0.0.1', path: '/post', method: 'POST', headers: { host: 'x.test', ...headers } }, (res) => { res.resume(); resolve(res.statusCode!); });
    req.on('error', reject);
    req.end(body);
  });
  const payload = 'payload-'.repeat(1000);
  assert.equal(await post(payload), 200);
  await until(() => bodies.includes(payload), 'the small body mirrored whole');
  // A chunked body has no length to hold it to: not mirrored.
  assert.equal(await post('chunked', { 'transfer-encoding': 'chunked' }), 200);
  assert.equal(lb.lb.mirrored.skippedBody, 5);
  assert.equal(lb.lb.mirrored.skippedNoBackend, 21);
  assert.ok(lb.lb.mirrored.sent >= 84);
  const metrics = await lb.lb.metrics.text();
  assert.match(metrics, /^lb_mirror_requests_total\{outcome="skipped_body"\} 5$/m);
  assert.match(metrics, /^lb_mirror_requests_total\{outcome="skipped_no_backend"\} 21$/m);
});

test('pools are health-checked apart: one with no healthy backend answers 503 on its routes, the others keep 200', async (t) => {
  const healthy: Handler = (req, res, backend) => { req.resume(); res.end(backend.name); };
  const sick: Handler = (req, res) => { req.resume(); res.statusCode = req.url === '/health' ? 500 : 200; res.end('sick'); };
  const good = await startBackend('good', healthy);
  const bad = await startBackend('bad', sick);
  t.after(() => good.close());
  t.after(() => bad.close());
  const lb = await startInProcess({ ...CHECKS }, t, () => ({
    health: { path: '/health' },
    pools: { good: { backends: [good.url] }, bad: { backends: [bad.url], health: { rise: 1, fall: 1 } } },
    routes: [
      { name: 'good', matches: [{ path: { type: 'PathPrefix', value: '/good' } }], backendRefs: [{ name: 'good' }] },
      { name: 'bad', matches: [{ path: { type: 'PathPrefix', value: '/bad' } }], backendRefs: [{ name: 'bad' }] },
    ],
  }));
  assert.equal(lb.lb.pools.get('bad')!.available.length, 0);
  assert.equal(lb.lb.pools.get('good')!.available.length, 1);
  assert.equal((await ask(lb.port, 'x.test', '/good')).status, 200);
  const res = await ask(lb.port, 'x.test', '/bad');
  assert.equal(res.status, 503);
  await lb.waitForLog((l) => l.msg === 'backend is down' && l.pool === 'bad');
});

test('a reload swaps routes and pools at once under load, with no failed request', async (t) => {
  const b = await backends(t, ['one', 'two']);
  let target = 'one';
  const lb = await startInProcess({ ...CHECKS }, t, () => ({
    pools: target === 'one' ? { one: { backends: [b.one!.url] } } : { one: { backends: [b.one!.url] }, two: { backends: [b.two!.url] } },
    routes: [{ name: 'app', matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [{ name: target }] }],
  }));
  const seen: Record<string, number> = {};
  let failed = 0;
  let stop = false;
  const loop = async (): Promise<void> => {
    for (let i = 0; i < 5000 && !stop; i++) {
      const res = await ask(lb.port, 'x.test', '/');
      if (res.status !== 200) failed++;
      else seen[res.echo!.name] = (seen[res.echo!.name] ?? 0) + 1;
    }
  };
  const loops = [loop(), loop(), loop(), loop()];
  await until(() => (seen.one ?? 0) >= 50, 'traffic to pool one');
  target = 'two';
  const outcome = lb.lb.reload();
  assert.equal(outcome.ok, true);
  await until(() => (seen.two ?? 0) >= 50, 'traffic to the new pool two');
  // And back: pool two is removed, its requests in flight finish.
  target = 'one';
  assert.equal(lb.lb.reload().ok, true);
  const before = seen.one!;
  await until(() => seen.one! >= before + 50, 'traffic back on pool one');
  stop = true;
  await Promise.all(loops);
  assert.equal(failed, 0);
  assert.deepEqual([...lb.lb.pools.keys()], ['one']);
  // An invalid file changes nothing.
  target = 'missing';
  assert.equal(lb.lb.reload().ok, false);
  assert.equal((await ask(lb.port, 'x.test', '/')).echo?.name, 'one');
});

test('lb --check prints the pools and the compiled routing table; a bad route exits 2 naming it', ENGINE_INDEPENDENT, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lb-routes-'));
  const good = join(dir, 'lb.yaml');
  writeFileSync(good, [
    'pools:',
    '  api: { backends: [http://127.0.0.1:9], strategy: least-connections }',
    'routes:',
    '  - name: api',
    '    hostnames: [api.example.com]',
    '    matches: [{ path: { type: PathPrefix, value: /v1 } }]',
    '    backendRefs: [{ name: api }]',
    '  - name: shadowed',
    '    hostnames: [api.example.com]',
    '    matches: [{ path: { type: PathPrefix, value: /v1 } }]',
    '    backendRefs: [{ name: api }]',
  ].join('\n'));
  const ok = await runLb({}, ['--check', '--config', good]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /pools: api \(1 backend entry, least-connections\)/);
  assert.match(ok.stdout, /api\.example\.com:\n\s+1\. PathPrefix \/v1 -> route "api" matches\[0\]/);
  assert.match(ok.stdout, /unmatched requests: 404/);
  assert.match(ok.stderr, /route "shadowed" matches\[0\].*never matches.*route "api"/);
  const strict = await runLb({ STRICT_ENV: 'true' }, ['--check', '--config', good]);
  assert.equal(strict.code, 2);
  assert.match(strict.stderr, /never matches.*STRICT_ENV/);

  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'pools:\n  api: { backends: [http://127.0.0.1:9] }\nroutes:\n  - name: api\n    matches: [{ path: { type: Prefix, value: /v1 } }]\n    backendRefs: [{ name: api }]\n');
  const refused = await runLb({}, ['--check', '--config', bad]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /route "api" matches\[0\]\.path\.type "Prefix".*expected one of Exact, PathPrefix, RegularExpression/);
  assert.doesNotMatch(refused.stderr, /in\s+in/);
  const useless = join(dir, 'useless.yaml');
  writeFileSync(useless, 'routes:\n  - name: r\n    filters: [{ type: DirectResponse, directResponse: { statusCode: 200 } }, { type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: a, value: b }] } }]\n');
  const ignored = await runLb({}, ['--check', '--config', useless]);
  assert.equal(ignored.code, 2);
  assert.match(ignored.stderr, /route "r" filters\[1\]\.type "RequestHeaderModifier".*answers the request itself/);
  const unknownPool = join(dir, 'pool.yaml');
  writeFileSync(unknownPool, 'routes:\n  - name: api\n    backendRefs: [{ name: nope }]\n');
  const missing = await runLb({}, ['--check', '--config', unknownPool]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /route "api" backendRefs\[0\]\.name "nope"/);
});
