import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { createCa, issue } from './helpers/certs.js';
import { startBackend } from './helpers/backend.js';
import { runLb, startLb } from './helpers/lb.js';

const ca = createCa();
const main = issue(ca, 'lb-main', ['DNS:main.example.test', 'DNS:localhost']);
const wild = issue(ca, 'lb-wild', ['DNS:*.wild.example.test']);
const exact = issue(ca, 'lb-exact', ['DNS:exact.wild.example.test']);
const dualEc = issue(ca, 'lb-dual-ec', ['DNS:dual.example.test']);
const dualRsa = issue(ca, 'lb-dual-rsa', ['DNS:dual.example.test'], { rsa: true });

/** The CN of the certificate the balancer shows for `servername` (none: no SNI at all). */
async function served(port: number, servername: string | undefined, extra: ConnectionOptions = {}): Promise<string> {
  // Node sends no SNI to an IP address unless told a name.
  const socket = tlsConnect({ host: '127.0.0.1', port, ca: ca.cert, rejectUnauthorized: false, ...(servername === undefined ? {} : { servername }), ...extra });
  await once(socket, 'secureConnect');
  const cn = String((socket.getPeerCertificate().subject as { CN?: string }).CN);
  socket.destroy();
  return cn;
}

test('certificates chosen by SNI (tls.certificates in a config file): exact before wildcard, one label, the first the default', async (t) => {
  const backend = await startBackend('b');
  t.after(() => backend.close());
  const file = join(ca.dir, 'sni.yaml');
  const pairs = [main, wild, exact, dualEc, dualRsa].map((p) => `    - { cert: ${JSON.stringify(p.certFile)}, key: ${JSON.stringify(p.keyFile)} }`).join('\n');
  writeFileSync(file, `backends: [${JSON.stringify(backend.url)}]\ntls:\n  certificates:\n${pairs}\n`);
  const lb = await startLb({}, { args: ['--config', file] });
  t.after(() => lb.stop());
  assert.equal(await served(lb.port, 'main.example.test'), 'lb-main');
  assert.equal(await served(lb.port, 'EXACT.wild.example.test'), 'lb-exact', 'exact wins over the wildcard, any case');
  assert.equal(await served(lb.port, 'other.wild.example.test'), 'lb-wild');
  assert.equal(await served(lb.port, 'a.b.wild.example.test'), 'lb-main', 'a wildcard covers one label');
  assert.equal(await served(lb.port, 'wild.example.test'), 'lb-main', 'nor the bare domain');
  assert.equal(await served(lb.port, 'unknown.example.test'), 'lb-main', 'no match: the default');
  assert.equal(await served(lb.port, undefined), 'lb-main', 'no SNI: the default');

  // RSA and ECDSA for one name: the one the client's signature algorithms prefer.
  assert.equal(await served(lb.port, 'dual.example.test', { sigalgs: 'ecdsa_secp256r1_sha256' }), 'lb-dual-ec');
  assert.equal(await served(lb.port, 'dual.example.test', { sigalgs: 'rsa_pss_rsae_sha256:rsa_pkcs1_sha256' }), 'lb-dual-rsa');
  assert.equal(await served(lb.port, 'dual.example.test', { sigalgs: 'rsa_pss_rsae_sha256:ecdsa_secp256r1_sha256' }), 'lb-dual-ec', 'ECDSA when the client can take it');
  assert.equal(await served(lb.port, 'dual.example.test', { maxVersion: 'TLSv1.2', sigalgs: 'rsa_pkcs1_sha256' }), 'lb-dual-rsa');
  assert.equal(await served(lb.port, 'dual.example.test', {}), 'lb-dual-ec', 'Node\'s client prefers ECDSA');

  // A request over the chosen certificate is proxied as usual (the name verified by the client).
  const socket = tlsConnect({ host: '127.0.0.1', port: lb.port, ca: ca.cert, servername: 'x.wild.example.test', ALPNProtocols: ['http/1.1'] });
  await once(socket, 'secureConnect');
  assert.equal(socket.authorized, true);
  socket.write('GET / HTTP/1.1\r\nHost: x.wild.example.test\r\nConnection: close\r\n\r\n');
  let data = '';
  for await (const chunk of socket) data += String(chunk);
  assert.match(data, /^HTTP\/1\.1 200 [\s\S]*\r\n\r\nb$/);
});

test('RSA and ECDSA as the default pair: OpenSSL picks by everything the client offers, TLS 1.2 cipher suites included', async (t) => {
  const backend = await startBackend('b');
  t.after(() => backend.close());
  const lb = await startLb({ BACKENDS: backend.url, TLS_CERT_FILE: `${dualEc.certFile},${dualRsa.certFile},${main.certFile}`, TLS_KEY_FILE: `${dualEc.keyFile},${dualRsa.keyFile},${main.keyFile}` });
  t.after(() => lb.stop());
  for (const servername of [undefined, 'dual.example.test']) {
    assert.equal(await served(lb.port, servername, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' }), 'lb-dual-rsa');
    assert.equal(await served(lb.port, servername, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' }), 'lb-dual-ec');
    assert.equal(await served(lb.port, servername, { sigalgs: 'rsa_pss_rsae_sha256' }), 'lb-dual-rsa');
    assert.equal(await served(lb.port, servername, { sigalgs: 'ecdsa_secp256r1_sha256' }), 'lb-dual-ec');
  }
  assert.equal(await served(lb.port, 'main.example.test'), 'lb-main');
});

test('each certificate pair is reloaded on its own when its files change; the others stay', async (t) => {
  const backend = await startBackend('b');
  t.after(() => backend.close());
  const certFile = join(ca.dir, 'live-wild.pem');
  const keyFile = join(ca.dir, 'live-wild.key');
  copyFileSync(wild.certFile, certFile);
  copyFileSync(wild.keyFile, keyFile);
  const lb = await startLb({ BACKENDS: backend.url, TLS_CERT_FILE: `${main.certFile},${certFile}`, TLS_KEY_FILE: `${main.keyFile},${keyFile}` });
  t.after(() => lb.stop());
  assert.equal(await served(lb.port, 'a.wild.example.test'), 'lb-wild');
  copyFileSync(exact.keyFile, keyFile);
  copyFileSync(exact.certFile, certFile);
  const reloaded = await lb.waitForLog((l) => l.msg === 'TLS certificate reloaded', 15_000);
  assert.equal(reloaded.cert, certFile);
  assert.deepEqual(reloaded.names, ['exact.wild.example.test']);
  assert.equal(await served(lb.port, 'exact.wild.example.test'), 'lb-exact');
  assert.equal(await served(lb.port, 'a.wild.example.test'), 'lb-main', 'the wildcard went with its file');
  assert.equal(await served(lb.port, 'main.example.test'), 'lb-main');
});

test('TLS_MIN_VERSION=TLSv1.3 refuses TLS 1.2; TLS_CIPHERS and TLS_ECDH_CURVES reach OpenSSL', async (t) => {
  const backend = await startBackend('b');
  t.after(() => backend.close());
  const lb = await startLb({ BACKENDS: backend.url, TLS_CERT_FILE: main.certFile, TLS_KEY_FILE: main.keyFile, TLS_MIN_VERSION: 'TLSv1.3' });
  t.after(() => lb.stop());
  assert.equal(await served(lb.port, 'main.example.test'), 'lb-main');
  const old = tlsConnect({ host: '127.0.0.1', port: lb.port, rejectUnauthorized: false, servername: 'main.example.test', maxVersion: 'TLSv1.2' });
  const [err] = await once(old, 'error') as [NodeJS.ErrnoException];
  assert.match(String(err.code ?? err.message), /VERSION|PROTOCOL|ALERT/i);

  const tuned = await startLb({ BACKENDS: backend.url, TLS_CERT_FILE: main.certFile, TLS_KEY_FILE: main.keyFile,
    TLS_CIPHERS: 'ECDHE-ECDSA-AES256-GCM-SHA384', TLS_ECDH_CURVES: 'P-384' });
  t.after(() => tuned.stop());
  const socket = tlsConnect({ host: '127.0.0.1', port: tuned.port, rejectUnauthorized: false, servername: 'main.example.test', maxVersion: 'TLSv1.2' });
  await once(socket, 'secureConnect');
  assert.equal(socket.getCipher().name, 'ECDHE-ECDSA-AES256-GCM-SHA384');
  assert.match(String((socket.getEphemeralKeyInfo() as { name?: string } | null)?.name), /384/);
  socket.destroy();
  const other = tlsConnect({ host: '127.0.0.1', port: tuned.port, rejectUnauthorized: false, servername: 'main.example.test', maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' });
  await once(other, 'error');
});

test('TLS settings: a bad value exits 2 naming the setting and the value', async () => {
  const pair = { TLS_CERT_FILE: main.certFile, TLS_KEY_FILE: main.keyFile };
  const cases: [Record<string, string>, RegExp][] = [
    [{ ...pair, TLS_CLIENT_AUTH: 'maybe' }, /^lb: invalid TLS_CLIENT_AUTH "maybe": expected one of off, optional, require$/],
    [{ ...pair, TLS_CLIENT_AUTH: 'require' }, /^lb: invalid TLS_CLIENT_AUTH \(tls.clientAuth\) "require" without TLS_CLIENT_CA_FILE: /],
    [{ ...pair, TLS_CLIENT_AUTH: 'optional', TLS_CLIENT_CA_FILE: '/nonexistent-ca.pem' }, /^lb: invalid TLS_CLIENT_CA_FILE "\/nonexistent-ca.pem": cannot read it \(ENOENT\)$/],
    [{ ...pair, TLS_CLIENT_AUTH: 'optional', TLS_CLIENT_CA_FILE: main.keyFile }, /^lb: invalid TLS_CLIENT_CA_FILE ".*": expected PEM CA certificates/],
    [{ ...pair, TLS_MIN_VERSION: 'TLSv1.1' }, /^lb: invalid TLS_MIN_VERSION "TLSv1.1": expected one of TLSv1.2, TLSv1.3$/],
    [{ ...pair, TLS_CIPHERS: 'NO-SUCH-CIPHER' }, /^lb: invalid TLS_CIPHERS "NO-SUCH-CIPHER": expected an OpenSSL cipher list/],
    [{ ...pair, TLS_ECDH_CURVES: 'P-999' }, /^lb: invalid TLS_ECDH_CURVES "P-999": expected key exchange groups/],
    [{ TLS_CERT_FILE: `${main.certFile},${wild.certFile}`, TLS_KEY_FILE: main.keyFile }, /^lb: invalid TLS_KEY_FILE \(tls.key\) ".*": expected one key per certificate of TLS_CERT_FILE \(2\)/],
    [{ TLS_CERT_FILE: `${main.certFile},${wild.certFile}`, TLS_KEY_FILE: `${main.keyFile},${exact.keyFile}` }, /^lb: invalid TLS_CERT_FILE\/TLS_KEY_FILE ".*lb-wild.pem, .*lb-exact.key": expected a readable PEM certificate and its matching key/],
    [{ BACKEND_CERT_FILE: main.certFile }, /^lb: missing BACKEND_KEY_FILE \(backendTls.key\): expected BACKEND_CERT_FILE and BACKEND_KEY_FILE/],
    [{ BACKEND_CERT_FILE: main.certFile, BACKEND_KEY_FILE: wild.keyFile }, /^lb: invalid BACKEND_CERT_FILE\/BACKEND_KEY_FILE ".*": expected a readable PEM certificate and its matching key/],
    [{ BACKEND_CERT_FILE: '/nonexistent.pem', BACKEND_KEY_FILE: wild.keyFile }, /^lb: invalid BACKEND_CERT_FILE\/BACKEND_KEY_FILE ".*": expected a readable PEM certificate and its matching key \(ENOENT\)$/],
  ];
  for (const [env, want] of cases) {
    const { code, stderr } = await runLb({ BACKENDS: 'http://127.0.0.1:1', ...env });
    assert.equal(code, 2, `${JSON.stringify(env)}: ${stderr}`);
    assert.match(stderr.trimEnd(), want);
  }
});
