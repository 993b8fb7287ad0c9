import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import { test } from 'node:test';
import { until } from './helpers/in-process.js';
import { ask, echoBackend, metric, startWithConfig } from './helpers/edge.js';
import { rawConnect } from './helpers/http.js';

interface AuthService { readonly url: string; hits: number; readonly seen: IncomingHttpHeaders[]; readonly hung: IncomingMessage[]; close(): Promise<void> }

/** An auth service on 127.0.0.1: `Bearer good` passes as alice, `Bearer login` is sent to log in, anything else is denied. */
async function startAuthService(t: { after(fn: () => unknown): void }): Promise<AuthService> {
  const service: { hits: number; seen: IncomingHttpHeaders[]; hung: IncomingMessage[] } = { hits: 0, seen: [], hung: [] };
  const server: Server = createServer((req, res) => {
    service.hits++;
    service.seen.push(req.headers);
    req.resume();
    if (req.headers.authorization === 'Bearer hang') {
      service.hung.push(req);
      return;
    }
    if (req.headers.authorization === 'Bearer good') {
      res.writeHead(204, { 'x-user': 'alice', 'x-other': 'not copied' });
      res.end();
    } else if (req.headers.authorization === 'Bearer login') {
      res.writeHead(302, { location: 'https://login.example/?next=' + String(req.headers['x-forwarded-uri']) });
      res.end();
    } else {
      res.writeHead(403, { 'content-type': 'application/json', 'x-reason': 'no entry', 'set-cookie': ['a=1', 'b=2'] });
      res.end(JSON.stringify({ denied: true }));
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const close = async (): Promise<void> => { server.closeAllConnections(); server.close(); };
  t.after(close);
  return Object.assign(service, { url: `http://127.0.0.1:${port}/auth?check=1`, close });
}

function routes(backend: string, auth: string): string {
  const filter = (extra: string): string => `[{ type: ForwardAuth, forwardAuth: { address: "${auth}", authRequestHeaders: [Authorization, Cookie], authResponseHeaders: [X-User]${extra} } }]`;
  return `pools:
  app: { backends: [${backend}] }
routes:
  - name: fa
    matches: [{ path: { type: PathPrefix, value: /fa } }]
    filters: ${filter('')}
    backendRefs: [{ name: app }]
  - name: cached
    matches: [{ path: { type: PathPrefix, value: /cached } }]
    filters: ${filter(', cacheTtl: 10m, keepAuthorization: true')}
    backendRefs: [{ name: app }]
  - name: down
    matches: [{ path: { type: PathPrefix, value: /down } }]
    filters: [{ type: ForwardAuth, forwardAuth: { address: "http://127.0.0.1:9/auth", timeout: 2s } }]
    backendRefs: [{ name: app }]
`;
}

test('ForwardAuth: 2xx passes with the named headers copied; other answers go to the client as they are', async (t) => {
  const backend = await echoBackend(t);
  const auth = await startAuthService(t);
  const lb = await startWithConfig(t, routes(backend.url, auth.url));

  const ok = await ask(lb.port, '/fa/x?y=1', { authorization: 'Bearer good', cookie: 's=1', 'x-user': 'mallory', 'x-secret': 'kept from the auth service' });
  assert.equal(ok.status, 200);
  assert.equal(ok.echo!.url, '/fa/x?y=1');
  assert.equal(ok.echo!.headers['x-user'], 'alice', 'copied from the answer; the client\'s own value is gone');
  assert.equal(ok.echo!.headers['x-other'], undefined);
  assert.equal(ok.echo!.headers.authorization, undefined, 'Authorization removed before the backend');
  assert.equal(ok.echo!.headers.cookie, 's=1');
  const asked = auth.seen[0]!;
  assert.equal(asked.authorization, 'Bearer good');
  assert.equal(asked.cookie, 's=1');
  assert.equal(asked['x-secret'], undefined, 'only the chosen headers');
  assert.equal(asked['x-forwarded-method'], 'GET');
  assert.equal(asked['x-forwarded-uri'], '/fa/x?y=1');
  assert.equal(asked['x-forwarded-proto'], 'http');
  assert.equal(asked['x-forwarded-host'], `127.0.0.1:${lb.port}`);

  const denied = await ask(lb.port, '/fa/x', { authorization: 'Bearer bad' });
  assert.equal(denied.status, 403);
  assert.equal(denied.body, '{"denied":true}');
  assert.equal(denied.headers['content-type'], 'application/json');
  assert.equal(denied.headers['x-reason'], 'no entry');
  assert.deepEqual(denied.headers['set-cookie'], ['a=1', 'b=2']);
  const login = await ask(lb.port, '/fa/page', { authorization: 'Bearer login' });
  assert.equal(login.status, 302);
  assert.equal(login.headers.location, 'https://login.example/?next=/fa/page');

  // A POST body waits, whole, for the answer.
  const body = 'y'.repeat(100_000);
  const posted = await ask(lb.port, '/fa/upload', { authorization: 'Bearer good' }, { method: 'POST', body });
  assert.equal(posted.status, 200);
  assert.equal(posted.echo!.body, body);

  const line = await lb.waitForLog((l) => l.msg === 'request' && l.path === '/fa/page');
  assert.equal(line.status, 302);
  assert.equal(line.error, 'LB_ERR_AUTH_DENIED');
  assert.equal(line.policy, 'forward-auth');
  assert.equal(await metric(lb.admin, 'lb_policy_refusals_total{policy="forward-auth",route="fa"}'), 2);
});

test('ForwardAuth: answers cached by credentials only with cacheTtl (counted at the auth service); an auth service down is 503', async (t) => {
  const backend = await echoBackend(t);
  const auth = await startAuthService(t);
  const lb = await startWithConfig(t, routes(backend.url, auth.url));

  for (let i = 0; i < 3; i++) assert.equal((await ask(lb.port, '/fa', { authorization: 'Bearer good' })).status, 200);
  assert.equal(auth.hits, 3, 'no cache: asked each time');

  for (let i = 0; i < 3; i++) {
    const res = await ask(lb.port, `/cached/${i}`, { authorization: 'Bearer good' });
    assert.equal(res.status, 200);
    assert.equal(res.echo!.headers['x-user'], 'alice', 'the cached answer sets the header too');
    assert.equal(res.echo!.headers.authorization, 'Bearer good', 'keepAuthorization');
  }
  assert.equal(auth.hits, 4, 'cached: asked once');
  for (let i = 0; i < 2; i++) assert.equal((await ask(lb.port, '/cached', { authorization: 'Bearer bad' })).status, 403);
  assert.equal(auth.hits, 5, 'a refusal is cached too');
  assert.equal((await ask(lb.port, '/cached', { authorization: 'Bearer good', cookie: 'other=1' })).status, 200);
  assert.equal(auth.hits, 6, 'other credentials: asked again');

  const down = await ask(lb.port, '/down');
  assert.equal(down.status, 503);
  const line = await lb.waitForLog((l) => l.msg === 'request' && l.path === '/down');
  assert.equal(line.error, 'LB_ERR_AUTH_UNAVAILABLE');
  assert.equal(line.policy, 'forward-auth');
});

test('ForwardAuth: a client that leaves while the auth service thinks cancels the sub-request (its connection closes); nothing reaches the backend', async (t) => {
  let hits = 0;
  const backend = await echoBackend(t);
  // Health checks ask for /; only the routed requests count.
  backend.server.on('request', (req: IncomingMessage) => { if (req.url!.startsWith('/fa')) hits++; });
  const auth = await startAuthService(t);
  const lb = await startWithConfig(t, routes(backend.url, auth.url));
  const client = await rawConnect(lb.port);
  client.write('POST /fa/slow HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer hang\r\nContent-Length: 5\r\n\r\nhello');
  await until(() => auth.hung.length === 1, 'the auth service asked');
  const asked = auth.hung[0]!;
  const closed = once(asked.socket, 'close');
  client.destroy();
  await closed;
  const line = await lb.waitForLog((l) => l.msg === 'request' && l.path === '/fa/slow');
  assert.equal(line.status, 499);
  assert.equal(hits, 0);
  // The balancer goes on serving through the same auth service.
  assert.equal((await ask(lb.port, '/fa', { authorization: 'Bearer good' })).status, 200);
  assert.equal(hits, 1);
});
