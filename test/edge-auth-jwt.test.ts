import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { test } from 'node:test';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { ask, echoBackend, metric, startWithConfig } from './helpers/edge.js';

interface Key { readonly kid: string; readonly privateKey: CryptoKey; readonly publicKey: CryptoKey; readonly jwk: JWK }

async function makeKey(kid: string): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  return { kid, privateKey, publicKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

/** A JWKS served on 127.0.0.1: `keys` is what it serves now, `hits` how often it was fetched. */
async function startJwks(t: { after(fn: () => unknown): void }, keys: Key[]): Promise<{ url: string; keys: Key[]; hits: number }> {
  const state = { url: '', keys, hits: 0 };
  const server = createServer((req, res) => {
    state.hits++;
    req.resume();
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: state.keys.map((k) => k.jwk) }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => { server.closeAllConnections(); server.close(); });
  state.url = `http://127.0.0.1:${(server.address() as { port: number }).port}/.well-known/jwks.json`;
  return state;
}

async function sign(key: Key, claims: Record<string, unknown>, options: { iss?: string; aud?: string; exp?: number | string; nbf?: number | string; kid?: string | null } = {}): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader(options.kid === null ? { alg: 'RS256' } : { alg: 'RS256', kid: options.kid ?? key.kid })
    .setIssuedAt().setIssuer(options.iss ?? 'https://issuer.test').setAudience(options.aud ?? 'api').setExpirationTime(options.exp ?? '5m');
  if (options.nbf !== undefined) jwt.setNotBefore(options.nbf);
  return jwt.sign(key.privateKey);
}

test('JWT: tokens verified against a JWKS (a new kid fetches it again), claims to headers, expiry, audience, issuer; static PEM keys', async (t) => {
  const backend = await echoBackend(t);
  const k1 = await makeKey('k1');
  const jwks = await startJwks(t, [k1]);
  const pem = await exportSPKI(k1.publicKey);
  const lb = await startWithConfig(t, `pools:
  app: { backends: [${backend.url}] }
routes:
  - name: api
    matches: [{ path: { type: PathPrefix, value: /api } }]
    filters:
      - type: JWT
        jwt: { jwksUrl: "${jwks.url}", jwksCooldown: 0, issuer: https://issuer.test, audience: api, clockSkew: 5s, claimsToHeaders: { sub: X-User-Id, roles: X-Roles } }
    backendRefs: [{ name: app }]
  - name: static
    matches: [{ path: { type: PathPrefix, value: /static } }]
    filters:
      - type: JWT
        jwt: { keys: [{ pem: ${JSON.stringify(pem)}, alg: RS256 }], keepAuthorization: true }
    backendRefs: [{ name: app }]
`);
  const good = await sign(k1, { sub: 'user-42', roles: ['admin', 'dev'] });
  const ok = await ask(lb.port, '/api/me', { authorization: `Bearer ${good}`, 'x-user-id': 'spoofed' });
  assert.equal(ok.status, 200);
  assert.equal(ok.echo!.headers['x-user-id'], 'user-42');
  assert.equal(ok.echo!.headers['x-roles'], '["admin","dev"]');
  assert.equal(ok.echo!.headers.authorization, undefined);
  assert.equal(jwks.hits, 1);
  assert.equal((await ask(lb.port, '/api/me', { authorization: `Bearer ${good}` })).status, 200);
  assert.equal(jwks.hits, 1, 'the JWKS is cached');

  const missing = await ask(lb.port, '/api/me');
  assert.equal(missing.status, 401);
  assert.equal(missing.headers['www-authenticate'], 'Bearer');
  const expired = await ask(lb.port, '/api/me', { authorization: `Bearer ${await sign(k1, { sub: 'a' }, { exp: Math.floor(Date.now() / 1000) - 60 })}` });
  assert.equal(expired.status, 401);
  assert.equal(expired.headers['www-authenticate'], 'Bearer error="invalid_token"');
  const early = await ask(lb.port, '/api/me', { authorization: `Bearer ${await sign(k1, { sub: 'a' }, { nbf: Math.floor(Date.now() / 1000) + 600 })}` });
  assert.equal(early.status, 401);
  const audience = await ask(lb.port, '/api/me', { authorization: `Bearer ${await sign(k1, { sub: 'a' }, { aud: 'other' })}` });
  assert.equal(audience.status, 401);
  const issuer = await ask(lb.port, '/api/me', { authorization: `Bearer ${await sign(k1, { sub: 'a' }, { iss: 'https://evil.test' })}` });
  assert.equal(issuer.status, 401);
  const forged = await ask(lb.port, '/api/me', { authorization: `Bearer ${await sign(await makeKey('k1'), { sub: 'a' })}` });
  assert.equal(forged.status, 401, 'signed by another key with the same kid');
  assert.equal((await ask(lb.port, '/api/me', { authorization: 'Bearer not.a.token' })).status, 401);

  // Rotation: the issuer starts signing with k2, published in the JWKS.
  const k2 = await makeKey('k2');
  jwks.keys = [k1, k2];
  const rotated = await ask(lb.port, '/api/me', { authorization: `Bearer ${await sign(k2, { sub: 'user-7' })}` });
  assert.equal(rotated.status, 200);
  assert.equal(rotated.echo!.headers['x-user-id'], 'user-7');
  assert.equal(jwks.hits, 2, 'the unknown kid fetched the JWKS again');

  const fixed = await ask(lb.port, '/static/x', { authorization: `Bearer ${await sign(k1, {}, { kid: null })}` });
  assert.equal(fixed.status, 200);
  assert.match(fixed.echo!.headers.authorization!, /^Bearer /, 'keepAuthorization');
  assert.equal((await ask(lb.port, '/static/x', { authorization: `Bearer ${await sign(k2, {}, { kid: null })}` })).status, 401);

  const line = await lb.waitForLog((l) => l.msg === 'request' && l.status === 401 && l.route === 'static');
  assert.equal(line.error, 'LB_ERR_UNAUTHORIZED');
  assert.equal(line.policy, 'jwt');
  assert.equal(await metric(lb.admin, 'lb_policy_refusals_total{policy="jwt",route="api"}'), 7);
});
