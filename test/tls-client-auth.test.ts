import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect as h2Connect } from 'node:http2';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { createCa, issue, type Issued } from './helpers/certs.js';
import { startBackend, type TestBackend } from './helpers/backend.js';
import { get } from './helpers/http.js';
import { startLb } from './helpers/lb.js';

const ca = createCa();
const other = createCa();
const server = issue(ca, 'lb-server', ['DNS:localhost']);
const client = issue(ca, 'client-one', ['URI:spiffe://example.test/one', 'DNS:one.example.test'], { usage: 'client' });
const admin = issue(ca, 'client-admin', ['URI:spiffe://example.test/admin'], { usage: 'client' });
const stranger = issue(other, 'client-one', ['URI:spiffe://example.test/one'], { usage: 'client' });
const TLS = { TLS_CERT_FILE: server.certFile, TLS_KEY_FILE: server.keyFile, TLS_CLIENT_CA_FILE: ca.certFile };

/** A backend that answers with the headers it got, as JSON. */
function echo(name: string): Promise<TestBackend> {
  return startBackend(name, (req, res) => { req.resume(); res.end(JSON.stringify({ name, xfcc: req.headers['x-forwarded-client-cert'] ?? null })); });
}

/** An HTTPS request with `cert` as the client certificate (none when undefined). */
async function send(port: number, path: string, cert: Issued | undefined, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const req = httpsRequest({ host: '127.0.0.1', port, path, ca: ca.cert, servername: 'localhost', agent: false, headers, ...(cert === undefined ? {} : { cert: cert.cert, key: cert.key }) });
  req.end();
  const [res] = await once(req, 'response') as [IncomingMessage];
  let body = '';
  for await (const chunk of res) body += String(chunk);
  return { status: res.statusCode!, body };
}

function xfccOf(cert: Issued, uris: string[], dns: string[]): string {
  const hash = new X509Certificate(cert.cert).fingerprint256.replaceAll(':', '').toLowerCase();
  const name = /CN=([^\n]+)/.exec(new X509Certificate(cert.cert).subject)![1];
  return `Hash=${hash};Subject="CN=${name},O=Example"${uris.map((u) => `;URI=${u}`).join('')}${dns.map((d) => `;DNS=${d}`).join('')}`;
}

test('TLS_CLIENT_AUTH=require: a verified client gets through with X-Forwarded-Client-Cert (a spoofed one removed); none, or another CA\'s, fails the handshake', async (t) => {
  const backend = await echo('b');
  t.after(() => backend.close());
  const lb = await startLb({ BACKENDS: backend.url, ...TLS, TLS_CLIENT_AUTH: 'require' });
  t.after(() => lb.stop());
  const ok = await send(lb.port, '/', client, { 'x-forwarded-client-cert': 'Hash=evil;Subject="CN=root"' });
  assert.equal(ok.status, 200);
  assert.equal(JSON.parse(ok.body).xfcc, xfccOf(client, ['spiffe://example.test/one'], ['one.example.test']));
  await assert.rejects(send(lb.port, '/', undefined), 'no certificate');
  await assert.rejects(send(lb.port, '/', stranger), 'a certificate from another CA');

  // HTTP/2 streams read their connection's certificate too.
  const session = h2Connect(`https://localhost:${lb.port}`, { ca: ca.cert, cert: admin.cert, key: admin.key });
  t.after(() => session.destroy());
  const stream = session.request({ ':path': '/h2', 'x-forwarded-client-cert': 'spoofed' });
  let body = '';
  stream.setEncoding('utf8');
  stream.on('data', (c: string) => { body += c; });
  await once(stream, 'end');
  assert.equal(JSON.parse(body).xfcc, xfccOf(admin, ['spiffe://example.test/admin'], []));
});

test('TLS_CLIENT_AUTH=optional: routes match on the certificate\'s subject and SAN, a ClientCertificate filter answers 403 without one', async (t) => {
  const main = await echo('main');
  const special = await echo('special');
  t.after(() => Promise.all([main.close(), special.close()]));
  const file = join(ca.dir, 'client-auth.yaml');
  writeFileSync(file, JSON.stringify({
    pools: { main: { backends: [main.url] }, special: { backends: [special.url] } },
    routes: [
      { name: 'admins', matches: [{ path: { type: 'PathPrefix', value: '/' }, clientCertificate: { subject: { type: 'Exact', value: 'CN=client-admin,O=Example' } } }], backendRefs: [{ name: 'special' }] },
      { name: 'spiffe', matches: [{ path: { type: 'PathPrefix', value: '/spiffe' }, clientCertificate: { san: { type: 'RegularExpression', value: 'spiffe://example\\.test/.*' } } }], backendRefs: [{ name: 'special' }] },
      { name: 'secure', matches: [{ path: { type: 'PathPrefix', value: '/secure' } }], filters: [{ type: 'ClientCertificate', clientCertificate: { required: true } }], backendRefs: [{ name: 'main' }] },
      { name: 'open', backendRefs: [{ name: 'main' }] },
    ],
  }));
  const lb = await startLb({ ...TLS, TLS_CLIENT_AUTH: 'optional', ADMIN_PORT: '0' }, { args: ['--config', file] });
  t.after(() => lb.stop());

  const anonymous = await send(lb.port, '/page', undefined, { 'x-forwarded-client-cert': 'Hash=evil' });
  assert.deepEqual(JSON.parse(anonymous.body), { name: 'main', xfcc: null }, 'no certificate: no header, the spoofed one removed');
  assert.equal(JSON.parse((await send(lb.port, '/page', admin)).body).name, 'special', 'subject match');
  assert.equal(JSON.parse((await send(lb.port, '/page', client)).body).name, 'main', 'another subject');
  assert.equal(JSON.parse((await send(lb.port, '/spiffe/x', client)).body).name, 'special', 'SAN match');
  assert.equal(JSON.parse((await send(lb.port, '/spiffe/x', stranger)).body).name, 'main', 'an unverified certificate counts as none');

  const refused = await send(lb.port, '/secure', undefined);
  assert.equal(refused.status, 403);
  const line = await lb.waitForLog((l) => l.msg === 'request' && l.path === '/secure');
  assert.equal(line.status, 403);
  assert.equal(line.error, 'LB_ERR_CLIENT_CERT_REQUIRED');
  assert.equal(line.policy, 'client-certificate');
  assert.equal((await send(lb.port, '/secure', stranger)).status, 403, 'another CA\'s certificate is not verified');
  const allowed = await send(lb.port, '/secure', client);
  assert.equal(allowed.status, 200);
  assert.equal(JSON.parse(allowed.body).xfcc, xfccOf(client, ['spiffe://example.test/one'], ['one.example.test']));
  const admin0 = await lb.waitForLog((l) => l.msg === 'admin listening');
  const metrics = await get(`http://127.0.0.1:${admin0.port as number}/metrics`);
  assert.match(metrics.body, /lb_policy_refusals_total\{policy="client-certificate",route="secure"\} 2/);
});

test('a plain listener (either engine) removes a client\'s X-Forwarded-Client-Cert', async (t) => {
  const backend = await echo('b');
  t.after(() => backend.close());
  const lb = await startLb({ BACKENDS: backend.url });
  t.after(() => lb.stop());
  const res = await get(`${lb.url}/`, { headers: { 'x-forwarded-client-cert': 'Hash=evil;Subject="CN=root"', 'X-Forwarded-Client-Cert': 'again' } });
  assert.deepEqual(JSON.parse(res.body), { name: 'b', xfcc: null });
});
