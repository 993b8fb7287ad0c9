import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { test } from 'node:test';
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { V2_SIGNATURE } from '../src/edge/proxy-protocol.js';
import { startBackends } from './helpers/backend.js';
import { get, responsesIn } from './helpers/http.js';
import { startInProcess } from './helpers/in-process-lb.js';

// What routes, hash keys and rate limits read besides the request itself, both engines
// (TEST_ENGINE): the TLVs of the connection's PROXY protocol v2 header, and the claims of the
// token a route's JWT filter verified.

/** A v2 PROXY header from 192.0.2.1 with `tlvs` ([type, text] pairs). */
function header(tlvs: readonly [number, string | Buffer][]): Buffer {
  const records = Buffer.concat(tlvs.map(([type, value]) => {
    const bytes = typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
    return Buffer.concat([Buffer.from([type, bytes.length >> 8, bytes.length & 255]), bytes]);
  }));
  const addresses = Buffer.from([192, 0, 2, 1, 127, 0, 0, 1, 0x13, 0x88, 0, 80]);
  const head = Buffer.from([0x21, 0x11, 0, 0]);
  head.writeUInt16BE(addresses.length + records.length, 2);
  return Buffer.concat([V2_SIGNATURE, head, addresses, records]);
}

/** One request on a new connection from the trusted proxy 127.0.0.2 that opens with `proxyHeader`: its status and body. */
async function through(port: number, proxyHeader: Buffer, path: string): Promise<{ status: number; body: string }> {
  const socket = connect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' });
  await once(socket, 'connect');
  socket.setEncoding('latin1');
  let data = '';
  const done = new Promise<void>((resolve) => {
    socket.on('data', (chunk: string) => { data += chunk; if (responsesIn(data).complete >= 1) resolve(); });
    socket.on('close', () => resolve());
    socket.on('error', () => undefined);
  });
  socket.write(Buffer.concat([proxyHeader, Buffer.from(`GET ${path} HTTP/1.1\r\nHost: lb.test\r\n\r\n`, 'latin1')]));
  await done;
  socket.destroy();
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0);
  return { status, body: data.slice(data.indexOf('\r\n\r\n') + 4) };
}

test('PROXY v2 TLVs: a route matches on one, a pool hashes on one, a rate limit counts by one', async (t) => {
  const [a, b, c, other] = await startBackends(t, undefined, ['a', 'b', 'c', 'other']);
  const lb = await startInProcess({ TRUSTED_PROXIES: '127.0.0.2', PROXY_PROTOCOL: 'v2' }, t, () => ({
    pools: {
      tenants: { backends: [a!.url, b!.url, c!.url], strategy: 'consistent-hash', hash: { key: 'tlv:authority' } },
      other: { backends: [other!.url] },
    },
    routes: [
      { name: 'vpce', matches: [{ path: { type: 'PathPrefix', value: '/' }, proxyProtocolTlv: { type: 'aws_vpce_id', value: { type: 'RegularExpression', value: 'vpce-0[0-9a-f]+' } } }], backendRefs: [{ name: 'tenants' }] },
      { name: 'limited', matches: [{ path: { type: 'PathPrefix', value: '/limited' } }], filters: [{ type: 'RateLimit', rateLimit: { rate: '1/h', burst: 1, key: 'tlv:0xE0' } }], backendRefs: [{ name: 'other' }] },
      { name: 'rest', backendRefs: [{ name: 'other' }] },
    ],
  }));
  // The route's TLV condition: AWS PrivateLink's endpoint id (0xEA, subtype 1) matches; another, or none, does not.
  const vpce = (id: string): [number, Buffer] => [0xea, Buffer.concat([Buffer.from([1]), Buffer.from(id)])];
  const placed = new Map<string, Set<string>>();
  for (let i = 0; i < 12; i++) {
    const authority = `tenant-${i % 4}.example`;
    const res = await through(lb.port, header([[0x02, authority], vpce('vpce-0abc')]), '/x');
    assert.equal(res.status, 200);
    assert.ok(['a', 'b', 'c'].includes(res.body), `the tenants pool: ${res.body}`);
    (placed.get(authority) ?? placed.set(authority, new Set()).get(authority)!).add(res.body);
  }
  for (const [authority, backends] of placed) assert.equal(backends.size, 1, `${authority} always lands on one backend`);
  assert.equal((await through(lb.port, header([vpce('vpce-zzz')]), '/x')).body, 'other', 'the regex is anchored: no match');
  assert.equal((await through(lb.port, header([]), '/x')).body, 'other', 'no TLV: no match');
  // A rate limit keyed by the 0xE0 TLV (its bytes in hex): one per value.
  const e0 = (n: number): [number, Buffer] => [0xe0, Buffer.from([0, 0, 0, 0, 0, 0, 0, n])];
  assert.equal((await through(lb.port, header([e0(1)]), '/limited')).status, 200);
  assert.equal((await through(lb.port, header([e0(1)]), '/limited')).status, 429, 'the same TLV value: over the limit');
  assert.equal((await through(lb.port, header([e0(2)]), '/limited')).status, 200, 'another value has its own count');
});

test('JWT claims: a rate limit counts by a verified claim (after the JWT filter), a pool hashes on one; unverified tokens count for nothing', async (t) => {
  const [a, b, c] = await startBackends(t, undefined, ['a', 'b', 'c']);
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const { privateKey: otherKey } = await generateKeyPair('RS256', { extractable: true });
  const pem = await exportSPKI(publicKey);
  const jwt = { keys: [{ pem, alg: 'RS256' }] };
  const lb = await startInProcess({}, t, () => ({
    pools: { app: { backends: [a!.url, b!.url, c!.url], strategy: 'consistent-hash', hash: { key: 'jwt:sub' } } },
    routes: [
      { name: 'limited', matches: [{ path: { type: 'PathPrefix', value: '/limited' } }], filters: [{ type: 'JWT', jwt }, { type: 'RateLimit', rateLimit: { rate: '1/h', burst: 1, key: 'jwt:sub' } }], backendRefs: [{ name: 'app' }] },
      { name: 'hashed', matches: [{ path: { type: 'PathPrefix', value: '/hashed' } }], filters: [{ type: 'JWT', jwt }], backendRefs: [{ name: 'app' }] },
    ],
  }));
  const token = (sub: string, key = privateKey): Promise<string> => new SignJWT({ sub }).setProtectedHeader({ alg: 'RS256' }).setExpirationTime('5m').sign(key);
  const ask = async (path: string, bearer?: string): Promise<{ status: number; body: string }> => {
    const res = await get(`${lb.url}${path}`, { agent: false, headers: bearer === undefined ? {} : { authorization: `Bearer ${bearer}` } });
    return { status: res.status, body: res.body };
  };
  const alice = await token('alice');
  // Refused before the limit: neither a missing nor a forged token takes alice's place in it.
  assert.equal((await ask('/limited')).status, 401);
  assert.equal((await ask('/limited', await token('alice', otherKey))).status, 401);
  assert.equal((await ask('/limited', alice)).status, 200, 'alice\'s first');
  assert.equal((await ask('/limited', alice)).status, 429, 'alice\'s second: over her limit');
  assert.equal((await ask('/limited', await token('bob'))).status, 200, 'bob has his own count');
  const seen = new Map<string, Set<string>>();
  for (let i = 0; i < 12; i++) {
    const sub = `user-${i % 4}`;
    const res = await ask('/hashed', await token(sub));
    assert.equal(res.status, 200);
    (seen.get(sub) ?? seen.set(sub, new Set()).get(sub)!).add(res.body);
  }
  for (const [sub, backends] of seen) assert.equal(backends.size, 1, `${sub} always lands on one backend`);
});

test('JWT claims as a route match: checked with the route\'s own JWT filter first; no valid token, or other claims, fall through to the next route', async (t) => {
  const [admin, users] = await startBackends(t, undefined, ['admin', 'users']);
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const { privateKey: otherKey } = await generateKeyPair('RS256', { extractable: true });
  const jwt = { keys: [{ pem: await exportSPKI(publicKey), alg: 'RS256' }] };
  const lb = await startInProcess({}, t, () => ({
    pools: { admin: { backends: [admin!.url] }, users: { backends: [users!.url] } },
    routes: [
      { name: 'admin', matches: [{ path: { type: 'PathPrefix', value: '/app' }, jwtClaims: [{ name: 'role', value: 'admin' }, { name: 'level', type: 'RegularExpression', value: '[5-9]' }] }], filters: [{ type: 'JWT', jwt }], backendRefs: [{ name: 'admin' }] },
      { name: 'users', matches: [{ path: { type: 'PathPrefix', value: '/app' } }], backendRefs: [{ name: 'users' }] },
    ],
  }));
  const token = (claims: Record<string, unknown>, key = privateKey): Promise<string> => new SignJWT(claims).setProtectedHeader({ alg: 'RS256' }).setExpirationTime('5m').sign(key);
  const to = async (bearer?: string): Promise<string> => {
    const res = await get(`${lb.url}/app/x`, { agent: false, headers: bearer === undefined ? {} : { authorization: `Bearer ${bearer}` } });
    assert.equal(res.status, 200, res.body);
    return res.body;
  };
  assert.equal(await to(await token({ role: 'admin', level: 7 })), 'admin', 'a verified token with the claims');
  assert.equal(await to(await token({ role: 'admin', level: 2 })), 'users', 'one claim does not match');
  assert.equal(await to(await token({ role: 'user', level: 9 })), 'users');
  assert.equal(await to(await token({ role: 'admin', level: 7 }, otherKey)), 'users', 'a forged token\'s claims are never read');
  assert.equal(await to(), 'users', 'no token');
});
