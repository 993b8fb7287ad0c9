import assert from 'node:assert/strict';
import bcrypt from 'bcryptjs';
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { test } from 'node:test';
import { ask, basic, echoBackend, startWithConfig } from './helpers/edge.js';
import { startBackends } from './helpers/backend.js';
import { get } from './helpers/http.js';
import { startInProcess } from './helpers/in-process-lb.js';

const TOKEN = 'edge-explain-token-0123456789';

interface Note { policy: string; rule: string; key: string | null; decision: string; [detail: string]: unknown }
interface Explained { route: string | null; pool: string | null; status?: number; answeredBy?: string; chosen?: string | null; policies?: Note[] }

const explained = (headers: Record<string, string | string[] | undefined>): Explained => JSON.parse(headers['x-lb-explain'] as string) as Explained;

const ROUTES = (backend: string): string => `pools:
  app: { backends: [${backend}] }
routes:
  - name: limited
    matches: [{ path: { type: PathPrefix, value: /limited } }]
    filters: [{ type: RateLimit, rateLimit: { rate: 2/h, burst: 2 } }]
    backendRefs: [{ name: app }]
  - name: shadowed
    matches: [{ path: { type: PathPrefix, value: /shadowed } }]
    filters: [{ type: RateLimit, rateLimit: { rate: 1/h, burst: 1, mode: shadow, key: "header:x-user" } }]
    backendRefs: [{ name: app }]
  - name: private
    matches: [{ path: { type: PathPrefix, value: /private } }]
    filters: [{ type: BasicAuth, basicAuth: { htpasswd: ./users.htpasswd } }]
    backendRefs: [{ name: app }]
  - name: closed
    matches: [{ path: { type: PathPrefix, value: /closed } }]
    filters: [{ type: AccessList, accessList: { deny: [127.0.0.0/8] } }]
    backendRefs: [{ name: app }]
`;

test('X-LB-Explain names the policy that refused a request (rate limit, BasicAuth, access list) or let it through (what is left, shadow mode\'s would-refuse), its rule, key and decision', async (t) => {
  const backend = await echoBackend(t);
  const users = `alice:${bcrypt.hashSync('wonderland', 4)}\n`;
  const lb = await startWithConfig(t, ROUTES(backend.url), { 'users.htpasswd': users }, { ADMIN_TOKEN: TOKEN });
  const asking = { 'x-lb-explain': TOKEN };

  // A route's rate limit: what is left while under it, then the refusal and when to come back.
  const under = await Promise.all([0, 1].map(async () => ask(lb.port, '/limited', asking)));
  assert.deepEqual(under.map((r) => r.status), [200, 200]);
  const left = under.map((r) => explained(r.headers));
  for (const e of left) {
    assert.equal(e.route, 'limited');
    assert.equal(e.pool, 'app');
    assert.equal(e.chosen, `127.0.0.1:${backend.port}`);
    assert.equal(e.policies!.length, 1);
    assert.deepEqual({ ...e.policies![0], remaining: undefined, resetSeconds: undefined }, {
      policy: 'rate-limit', rule: 'route limited: RateLimit filter', key: 'ip=127.0.0.1', decision: 'allowed',
      limit: '2/h', burst: 2, mode: 'enforce', remaining: undefined, resetSeconds: undefined,
    });
  }
  assert.deepEqual(left.map((e) => e.policies![0]!.remaining).sort(), [0, 1]);
  const over = await ask(lb.port, '/limited', asking);
  assert.equal(over.status, 429);
  const refusal = explained(over.headers);
  assert.equal(refusal.answeredBy, 'rate-limit');
  assert.equal(refusal.status, 429);
  assert.equal(refusal.route, 'limited');
  assert.equal(refusal.pool, null);
  assert.equal(refusal.policies!.length, 1);
  const note = refusal.policies![0]!;
  assert.deepEqual([note.policy, note.rule, note.key, note.decision], ['rate-limit', 'route limited: RateLimit filter', 'ip=127.0.0.1', 'refused']);
  assert.equal(note.retryAfter, Number(over.headers['retry-after']));

  // Shadow mode: let through, and said to be over.
  const first = explained((await ask(lb.port, '/shadowed', { ...asking, 'x-user': 'carol' })).headers);
  assert.equal(first.policies![0]!.decision, 'allowed');
  const second = await ask(lb.port, '/shadowed', { ...asking, 'x-user': 'carol' });
  assert.equal(second.status, 200);
  assert.deepEqual(explained(second.headers).policies!.map((n) => [n.policy, n.key, n.decision, n.mode]), [['rate-limit', 'header:x-user=carol', 'would-refuse', 'shadow']]);

  // BasicAuth: refused without credentials, then let through naming the user (never the password).
  const denied = await ask(lb.port, '/private', asking);
  assert.equal(denied.status, 401);
  const why = explained(denied.headers);
  assert.equal(why.answeredBy, 'basic-auth');
  assert.deepEqual(why.policies!.map((n) => [n.policy, n.rule, n.key, n.decision, n.code, n.status]),
    [['basic-auth', 'route private: BasicAuth filter', null, 'refused', 'LB_ERR_UNAUTHORIZED', 401]]);
  const wrong = await ask(lb.port, '/private', { ...asking, authorization: basic('alice', 'nope') });
  assert.equal(wrong.status, 401);
  assert.equal(explained(wrong.headers).policies![0]!.key, 'user=alice');
  assert.doesNotMatch(wrong.headers['x-lb-explain'] as string, /nope/);
  const granted = await ask(lb.port, '/private', { ...asking, authorization: basic('alice', 'wonderland') });
  assert.equal(granted.status, 200);
  assert.deepEqual(explained(granted.headers).policies!.map((n) => [n.policy, n.key, n.decision]), [['basic-auth', 'user=alice', 'allowed']]);
  assert.doesNotMatch(granted.headers['x-lb-explain'] as string, /wonderland/);

  // A route's access list: the rule that matched.
  const closed = await ask(lb.port, '/closed', asking);
  assert.equal(closed.status, 403);
  const listed = explained(closed.headers);
  assert.equal(listed.answeredBy, 'access-list');
  assert.deepEqual(listed.policies!.map((n) => [n.policy, n.rule, n.key, n.decision, n.match]),
    [['access-list', 'route closed: AccessList filter', 'ip=127.0.0.1', 'refused', 'deny 127.0.0.0/8']]);

  // Without the token: refused all the same, and not told why.
  const plain = await ask(lb.port, '/closed', { 'x-lb-explain': 'not-the-token' });
  assert.equal(plain.status, 403);
  assert.equal(plain.headers['x-lb-explain'], undefined);
  assert.ok(backend.requests.every((r) => r.headers['x-lb-explain'] === undefined), 'the token never reaches a backend');
});

test('X-LB-Explain with the global settings: ALLOW_CIDRS/DENY_CIDRS and RATE_LIMIT are named as such, in the order they ran', async (t) => {
  const [a] = await startBackends(t, undefined, ['a']);
  const lb = await startInProcess({ BACKENDS: a!.url, ADMIN_PORT: '0', ADMIN_TOKEN: TOKEN, DENY_CIDRS: '10.0.0.0/8', RATE_LIMIT: '1/h', RATE_LIMIT_BURST: '1' }, t);
  const ok = await get(lb.url, { headers: { 'x-lb-explain': TOKEN } });
  assert.equal(ok.status, 200);
  const e = explained(ok.headers);
  assert.equal(e.route, null);
  assert.deepEqual(e.policies!.map((n) => [n.policy, n.rule, n.key, n.decision]), [
    ['access-list', 'ALLOW_CIDRS, DENY_CIDRS', 'ip=127.0.0.1', 'allowed'],
    ['rate-limit', 'RATE_LIMIT', 'ip=127.0.0.1', 'allowed'],
  ]);
  const over = await get(lb.url, { headers: { 'x-lb-explain': TOKEN } });
  assert.equal(over.status, 429);
  const refused = explained(over.headers);
  assert.equal(refused.answeredBy, 'rate-limit');
  assert.deepEqual(refused.policies!.map((n) => [n.policy, n.decision]), [['access-list', 'allowed'], ['rate-limit', 'refused']]);
  // A request that does not ask is refused without one.
  assert.equal((await get(lb.url)).headers['x-lb-explain'], undefined);
});

test('X-LB-Explain with JWT and ForwardAuth: the token\'s sub as the key (never the token), the auth service\'s refusal passed on as it is, and named', async (t) => {
  const backend = await echoBackend(t);
  // An auth service on 127.0.0.1: `Bearer good` passes, anything else gets 403.
  const auth = createServer((req, res) => {
    req.resume();
    res.writeHead(req.headers.authorization === 'Bearer good' ? 204 : 403).end();
  });
  auth.listen(0, '127.0.0.1');
  await once(auth, 'listening');
  t.after(() => { auth.closeAllConnections(); auth.close(); });
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const pem = await exportSPKI(publicKey);
  const yaml = `pools:
  app: { backends: [${backend.url}] }
routes:
  - name: tokens
    matches: [{ path: { type: PathPrefix, value: /api } }]
    filters: [{ type: JWT, jwt: { keys: [{ pem: ${JSON.stringify(pem)}, alg: RS256 }] } }]
    backendRefs: [{ name: app }]
  - name: asked
    matches: [{ path: { type: PathPrefix, value: /fa } }]
    filters: [{ type: ForwardAuth, forwardAuth: { address: "http://127.0.0.1:${(auth.address() as { port: number }).port}/check", authRequestHeaders: [Authorization] } }]
    backendRefs: [{ name: app }]
`;
  const lb = await startWithConfig(t, yaml, {}, { ADMIN_TOKEN: TOKEN });
  const asking = { 'x-lb-explain': TOKEN };
  const token = await new SignJWT({ sub: 'user-7' }).setProtectedHeader({ alg: 'RS256' }).setExpirationTime('10m').sign(privateKey);

  const good = await ask(lb.port, '/api', { ...asking, authorization: `Bearer ${token}` });
  assert.equal(good.status, 200);
  assert.deepEqual(explained(good.headers).policies!.map((n) => [n.policy, n.rule, n.key, n.decision]), [['jwt', 'route tokens: JWT filter', 'sub=user-7', 'allowed']]);
  assert.ok(!(good.headers['x-lb-explain'] as string).includes(token.split('.')[2]!), 'never the token');
  const forged = `${token.slice(0, token.lastIndexOf('.'))}.AAAA`;
  const bad = await ask(lb.port, '/api', { ...asking, authorization: `Bearer ${forged}` });
  assert.equal(bad.status, 401);
  const badWhy = explained(bad.headers);
  assert.equal(badWhy.answeredBy, 'jwt');
  assert.deepEqual(badWhy.policies!.map((n) => [n.key, n.decision, n.code]), [['sub=user-7', 'refused', 'LB_ERR_UNAUTHORIZED']], 'the sub the token claims, though it is refused');

  const denied = await ask(lb.port, '/fa', { ...asking, authorization: 'Bearer nope' });
  assert.equal(denied.status, 403);
  const deniedWhy = explained(denied.headers);
  assert.equal(deniedWhy.answeredBy, 'forward-auth');
  assert.deepEqual(deniedWhy.policies!.map((n) => [n.policy, n.rule, n.key, n.decision, n.status]), [['forward-auth', 'route asked: ForwardAuth filter', null, 'refused', 403]]);
  const passed = await ask(lb.port, '/fa', { ...asking, authorization: 'Bearer good' });
  assert.equal(passed.status, 200);
  assert.deepEqual(explained(passed.headers).policies!.map((n) => [n.policy, n.decision]), [['forward-auth', 'allowed']]);
});
