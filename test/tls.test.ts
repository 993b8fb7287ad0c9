import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { createServer as createHttpsServer } from 'node:https';
import { Agent, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { get } from './helpers/http.js';
import { createCa } from './helpers/certs.js';
import { startBackend } from './helpers/backend.js';
import { ENGINE_INDEPENDENT, runLb, startLb, type RunningLb } from './helpers/lb.js';

const ca = createCa();
const server1 = ca.issue('lb-one', ['localhost', '127.0.0.1']);
const server2 = ca.issue('lb-two', ['localhost', '127.0.0.1']);

async function httpsGet(lb: RunningLb | number, path = '/', agent?: Agent): Promise<{ status: number; body: string; headers: Record<string, unknown>; cn: string }> {
  const port = typeof lb === 'number' ? lb : lb.port;
  const req = httpsRequest({ host: '127.0.0.1', port, path, ca: ca.cert, servername: 'localhost', agent: agent ?? false });
  req.end();
  const [res] = await once(req, 'response') as [import('node:http').IncomingMessage];
  const cn = ((res.socket as TLSSocket).getPeerCertificate().subject as { CN?: string } | undefined)?.CN ?? '';
  let body = '';
  for await (const c of res) body += c;
  return { status: res.statusCode!, body, headers: res.headers, cn };
}

function peerName(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: ca.cert, servername: 'localhost' }, () => {
      resolve(String(socket.getPeerCertificate().subject?.CN));
      socket.end();
    });
    socket.on('error', reject);
  });
}

test('HTTPS on PORT: TLS 1.2+, X-Forwarded-Proto: https and Forwarded proto=https', async (t) => {
  const echo = await startBackend('echo', (req, res) => res.end(JSON.stringify(req.headers)));
  t.after(() => echo.close());
  const lb = await startLb({ BACKENDS: echo.url, TLS_CERT_FILE: server1.certFile, TLS_KEY_FILE: server1.keyFile });
  t.after(() => lb.stop());
  const res = await httpsGet(lb, '/x');
  assert.equal(res.status, 200);
  const seen = JSON.parse(res.body) as Record<string, string>;
  assert.equal(seen['x-forwarded-proto'], 'https');
  assert.match(seen.forwarded!, /;proto=https$/);
  assert.equal(res.cn, 'lb-one');
  assert.equal((await lb.waitForLog((l) => l.msg === 'listening')).proto, 'https');

  const old = tlsConnect({ host: '127.0.0.1', port: lb.port, ca: ca.cert, servername: 'localhost', maxVersion: 'TLSv1.1', minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' });
  const [err] = await once(old, 'error') as [NodeJS.ErrnoException];
  assert.match(String(err.code ?? err.message), /VERSION|PROTOCOL|ALERT/i, 'TLS 1.1 is refused');
});

test('HTTP_PORT adds a plain listener; with HTTP_REDIRECT it answers 308 to https', async (t) => {
  const backend = await startBackend('b');
  t.after(() => backend.close());
  for (const redirect of ['false', 'true']) {
    const lb = await startLb({ BACKENDS: backend.url, TLS_CERT_FILE: server1.certFile, TLS_KEY_FILE: server1.keyFile, HTTP_PORT: '0', HTTP_REDIRECT: redirect });
    const plain = await lb.waitForLog((l) => l.msg === 'listening' && l.proto === 'http');
    const res = await get(`http://127.0.0.1:${plain.port as number}/a/b?c=d`, { headers: { host: 'example.test:8080' } });
    if (redirect === 'true') {
      assert.equal(res.status, 308);
      assert.equal(res.headers.location, `https://example.test:${lb.port}/a/b?c=d`);
    } else {
      assert.equal(res.status, 200);
      assert.equal(res.body, 'b');
    }
    await lb.stop();
  }
});

test('SIGHUP reloads the certificate without dropping open connections; a bad one keeps the old', async (t) => {
  const backend = await startBackend('b');
  t.after(() => backend.close());
  const dir = ca.dir;
  const certFile = join(dir, 'live.pem');
  const keyFile = join(dir, 'live.key');
  copyFileSync(server1.certFile, certFile);
  copyFileSync(server1.keyFile, keyFile);
  const lb = await startLb({ BACKENDS: backend.url, TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile });
  t.after(() => lb.stop());
  const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => keepAlive.destroy());
  assert.equal((await httpsGet(lb, '/', keepAlive)).cn, 'lb-one');

  copyFileSync(server2.certFile, certFile);
  copyFileSync(server2.keyFile, keyFile);
  lb.proc.kill('SIGHUP');
  await lb.waitForLog((l) => l.msg === 'TLS certificate reloaded');
  assert.equal(await peerName(lb.port), 'lb-two', 'new connections get the new certificate');
  const reused = await httpsGet(lb, '/', keepAlive);
  assert.equal(reused.status, 200);
  assert.equal(reused.cn, 'lb-one', 'the open connection kept working, with its certificate');

  writeFileSync(certFile, 'not a certificate');
  lb.proc.kill('SIGHUP');
  await lb.waitForLog((l) => l.msg === 'TLS certificate reload failed: keeping the current certificate');
  assert.equal(await peerName(lb.port), 'lb-two');
});

test('a changed certificate file is picked up without a signal', async (t) => {
  const backend = await startBackend('b');
  t.after(() => backend.close());
  const certFile = join(ca.dir, 'watched.pem');
  const keyFile = join(ca.dir, 'watched.key');
  copyFileSync(server1.certFile, certFile);
  copyFileSync(server1.keyFile, keyFile);
  const lb = await startLb({ BACKENDS: backend.url, TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile });
  t.after(() => lb.stop());
  copyFileSync(server2.keyFile, keyFile);
  copyFileSync(server2.certFile, certFile);
  await lb.waitForLog((l) => l.msg === 'TLS certificate reloaded', 15_000);
  assert.equal(await peerName(lb.port), 'lb-two');
});

async function httpsBackend(t: { after(fn: () => unknown): void }, names: string[]): Promise<number> {
  const pair = ca.issue(`backend-${names[0]}`, names);
  const server = createHttpsServer({ cert: pair.cert, key: pair.key }, (req, res) => res.end(`tls backend ${req.url}`));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => { server.closeAllConnections(); server.close(); });
  return (server.address() as AddressInfo).port;
}

test('https:// backends are verified: with BACKEND_CA_FILE 200, without 502; BACKEND_TLS_INSECURE is loud', async (t) => {
  const port = await httpsBackend(t, ['localhost', '127.0.0.1']);
  const url = `https://127.0.0.1:${port}`;
  const trusted = await startLb({ BACKENDS: url, BACKEND_CA_FILE: ca.certFile });
  t.after(() => trusted.stop());
  const ok = await get(`${trusted.url}/p`);
  assert.equal(ok.status, 200);
  assert.equal(ok.body, 'tls backend /p');

  const untrusted = await startLb({ BACKENDS: url });
  t.after(() => untrusted.stop());
  const down = await untrusted.waitForLog((l) => l.msg === 'backend is down');
  assert.match(String(down.reason), /TLS error|certificate/i);
  assert.equal((await get(untrusted.url)).status, 503);

  const insecure = await startLb({ BACKENDS: url, BACKEND_TLS_INSECURE: 'true' });
  t.after(() => insecure.stop());
  await insecure.waitForLog((l) => l.level === 40 && /NOT verified/.test(String(l.msg)));
  assert.equal((await get(insecure.url)).status, 200);
});

test('BACKEND_SERVERNAME sets SNI and the name verified', async (t) => {
  const port = await httpsBackend(t, ['api.internal']);
  const url = `https://127.0.0.1:${port}`;
  const named = await startLb({ BACKENDS: url, BACKEND_CA_FILE: ca.certFile, BACKEND_SERVERNAME: 'api.internal' });
  t.after(() => named.stop());
  assert.equal((await get(named.url)).status, 200);
  const unnamed = await startLb({ BACKENDS: url, BACKEND_CA_FILE: ca.certFile });
  t.after(() => unnamed.stop());
  assert.equal((await get(unnamed.url)).status, 503, 'the certificate does not name 127.0.0.1');
});

test('TLS configuration errors exit 2', ENGINE_INDEPENDENT, async () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ TLS_CERT_FILE: server1.certFile }, /^lb: missing TLS_KEY_FILE \(tls.key\): expected TLS_CERT_FILE and TLS_KEY_FILE together$/],
    [{ TLS_CERT_FILE: '/nonexistent.pem', TLS_KEY_FILE: server1.keyFile }, /^lb: invalid TLS_CERT_FILE\/TLS_KEY_FILE .*: expected a readable PEM certificate and its matching key \(ENOENT\)$/],
    [{ TLS_CERT_FILE: server1.certFile, TLS_KEY_FILE: server2.keyFile }, /^lb: invalid TLS_CERT_FILE\/TLS_KEY_FILE .*: expected a readable PEM certificate and its matching key/],
    [{ BACKEND_CA_FILE: '/nonexistent-ca.pem' }, /^lb: invalid BACKEND_CA_FILE "\/nonexistent-ca.pem": cannot read it \(ENOENT\)$/],
    [{ HTTP_REDIRECT: 'maybe' }, /^lb: invalid HTTP_REDIRECT "maybe": expected true or false$/],
  ];
  for (const [env, want] of cases) {
    const { code, stderr } = await runLb({ BACKENDS: 'http://127.0.0.1:1', ...env });
    assert.equal(code, 2, stderr);
    assert.match(stderr.trimEnd(), want);
  }
});

/** Sends raw bytes over TLS with ALPN http/1.1 and resolves with all the balancer sends until it closes. */
async function tlsRawExchange(port: number, bytes: string, fin: boolean): Promise<string> {
  const socket = tlsConnect({ host: '127.0.0.1', port, ca: ca.cert, servername: 'localhost', ALPNProtocols: ['http/1.1'] });
  socket.on('error', () => undefined);
  await once(socket, 'secureConnect');
  socket.setEncoding('latin1');
  let data = '';
  socket.on('data', (chunk: string) => { data += chunk; });
  if (fin) socket.end(bytes);
  else socket.write(bytes);
  await new Promise((resolve) => socket.once('close', resolve));
  return data;
}

test('TLS: an HTTP/1 request line saying HTTP/2.0 gets 505 and is not taken for an HTTP/2 stream (was a 500); ALPN h2 streams still work', async (t) => {
  const backend = await startBackend('b');
  t.after(() => backend.close());
  const lb = await startLb({ BACKENDS: backend.url, HEALTH_CHECK_PATH: '/health', TLS_CERT_FILE: server1.certFile, TLS_KEY_FILE: server1.keyFile });
  t.after(() => lb.stop());
  const forwarded = () => backend.requests.filter((r) => r.url !== '/health').length;
  for (const line of ['GET / HTTP/2.0', 'GET / HTTP/0.9', 'GET / HTTP/1.2', 'CONNECT example.test:443 HTTP/2.0']) {
    const response = await tlsRawExchange(lb.port, `${line}\r\nHost: x\r\n\r\n`, false);
    assert.match(response, /^HTTP\/1\.1 505 /, `${line}: ${JSON.stringify(response.slice(0, 80))}`);
    assert.match(response, /\r\nConnection: close\r\n/i);
  }
  assert.equal(forwarded(), 0, 'nothing reached the backend');
  const { connect: h2Connect } = await import('node:http2');
  const session = h2Connect(`https://localhost:${lb.port}`, { ca: ca.cert });
  t.after(() => session.destroy());
  const stream = session.request({ ':method': 'GET', ':path': '/h2' });
  const [headers] = await once(stream, 'response') as [Record<string, unknown>];
  stream.resume();
  await once(stream, 'end');
  assert.equal(headers[':status'], 200);
  assert.equal((await httpsGet(lb, '/h1')).status, 200);
});

test('TLS: a complete request followed by malformed bytes gets its response, then 400', async (t) => {
  const backend = await startBackend('b');
  t.after(() => backend.close());
  const lb = await startLb({ BACKENDS: backend.url, HEALTH_CHECK_PATH: '/health', TLS_CERT_FILE: server1.certFile, TLS_KEY_FILE: server1.keyFile });
  t.after(() => lb.stop());
  // Without the client's close_notify and FIN: a TLS connection is not half-open, so over TLS
  // those end the connection, and cancel its requests, whatever follows them.
  const response = await tlsRawExchange(lb.port, 'POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGARBAGE\r\n\r\n', false);
  const statuses = [...response.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
  assert.deepEqual(statuses, [200, 400], JSON.stringify(response));
  assert.equal(backend.requests.filter((r) => r.url === '/first').length, 1, 'the backend got the request once');
});
