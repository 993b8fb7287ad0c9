// @engine-independent: the admin listener's API (node:http on its own port); no request crosses the traffic engine
import assert from 'node:assert/strict';
import bcrypt from 'bcryptjs';
import { exportSPKI, generateKeyPair } from 'jose';
import { test } from 'node:test';
import { echoBackend, startWithConfig } from './helpers/edge.js';
import { get } from './helpers/http.js';

const TOKEN = 'routes-policies-token-0123456789';

interface Policies { accessList: Record<string, unknown> | null; rateLimit: Record<string, unknown> | null; auth: Record<string, unknown> | null; compression: Record<string, unknown> | null }
interface RoutesAnswer { routes: { name: string; policies: Policies }[]; unmatched: { clientAddress: Record<string, unknown>; policies: Policies } }

test('GET /api/routes: each route\'s policies in effect (its filters over ALLOW_CIDRS, RATE_LIMIT, COMPRESSION), where each comes from, secrets redacted', async (t) => {
  const backend = await echoBackend(t);
  const hash = bcrypt.hashSync('wonderland', 4);
  const { publicKey } = await generateKeyPair('RS256');
  const pem = await exportSPKI(publicKey);
  const yaml = `pools:
  app: { backends: [${backend.url}] }
routes:
  - name: plain
    matches: [{ path: { type: PathPrefix, value: /plain } }]
    backendRefs: [{ name: app }]
  - name: staff
    matches: [{ path: { type: PathPrefix, value: /staff } }]
    filters:
      - { type: BasicAuth, basicAuth: { htpasswd: ./users.htpasswd, realm: Staff } }
      - { type: AccessList, accessList: { allow: [10.0.0.0/8], deny: [10.9.0.0/16] } }
      - { type: RateLimit, rateLimit: { rate: 5/s, burst: 10, key: "header:x-user", mode: shadow } }
      - { type: Compression, compression: off }
    backendRefs: [{ name: app }]
  - name: forwarded
    matches: [{ path: { type: PathPrefix, value: /fwd } }]
    filters: [{ type: ForwardAuth, forwardAuth: { address: "http://auth:hunter2@127.0.0.1:9/check?token=s3cr3t", authRequestHeaders: [Cookie], authResponseHeaders: [X-User] } }]
    backendRefs: [{ name: app }]
  - name: tokens
    matches: [{ path: { type: PathPrefix, value: /api } }]
    filters: [{ type: JWT, jwt: { keys: [{ pem: ${JSON.stringify(pem)}, alg: RS256 }], issuer: https://issuer.test, claimsToHeaders: { sub: X-User-Id } } }]
    backendRefs: [{ name: app }]
`;
  const lb = await startWithConfig(t, yaml, { 'users.htpasswd': `alice:${hash}\nbob:${hash}\n` }, {
    ADMIN_TOKEN: TOKEN, ALLOW_CIDRS: '127.0.0.0/8', RATE_LIMIT: '100/s', COMPRESSION: 'gzip',
  });
  const res = await get(`${lb.admin}/api/routes`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(res.status, 200);
  const body = JSON.parse(res.body) as RoutesAnswer;
  const of = (name: string): Policies => body.routes.find((r) => r.name === name)!.policies;

  // A route without filters: every global setting applies.
  assert.deepEqual(of('plain').accessList, { from: 'ALLOW_CIDRS, DENY_CIDRS', allow: ['127.0.0.0/8'], deny: [] });
  assert.deepEqual(of('plain').rateLimit, { from: 'RATE_LIMIT', rate: '100/s', burst: 100, key: 'ip', mode: 'enforce', tableSize: 100_000 });
  assert.equal(of('plain').auth, null);
  assert.equal(of('plain').compression!.from, 'COMPRESSION');
  assert.deepEqual(of('plain').compression!.encodings, ['gzip']);

  // Its own filters override each global setting; Compression: off is shown as off.
  const staff = of('staff');
  assert.deepEqual(staff.accessList, { from: 'route filter', allow: ['10.0.0.0/8'], deny: ['10.9.0.0/16'] });
  assert.deepEqual(staff.rateLimit, { from: 'route filter', rate: '5/s', burst: 10, key: 'header:x-user', mode: 'shadow', tableSize: 100_000 });
  assert.deepEqual({ ...staff.auth, htpasswd: undefined }, { from: 'route filter', type: 'BasicAuth', htpasswd: undefined, realm: 'Staff', users: 2, keepAuthorization: false });
  assert.match(staff.auth!.htpasswd as string, /users\.htpasswd$/);
  assert.deepEqual([staff.compression!.from, staff.compression!.on], ['route filter', false]);

  const forwarded = of('forwarded').auth!;
  assert.equal(forwarded.type, 'ForwardAuth');
  assert.equal(forwarded.address, 'http://auth:[redacted]@127.0.0.1:9/check?[redacted]');
  assert.deepEqual((forwarded.authRequestHeaders as string[]).map((h) => h.toLowerCase()), ['cookie'], 'header names, never values');
  const jwt = of('tokens').auth!;
  assert.deepEqual([jwt.type, jwt.staticKeys, jwt.issuer, jwt.jwksUrl], ['JWT', 1, 'https://issuer.test', null]);

  // What no route matches: the globals, and how the client address is found.
  assert.deepEqual(body.unmatched.clientAddress, { trustedProxies: [], proxyProtocol: 'off' });
  assert.equal(body.unmatched.policies.rateLimit!.from, 'RATE_LIMIT');
  assert.equal(body.unmatched.policies.auth, null);

  // No secret anywhere in the answer: not the hashes, the user names, the key, the password or the query's token.
  for (const secret of [hash, 'alice', 'bob', pem.split('\n')[1]!, 'hunter2', 's3cr3t']) assert.ok(!res.body.includes(secret), `${secret.slice(0, 12)}… is not shown`);
});
