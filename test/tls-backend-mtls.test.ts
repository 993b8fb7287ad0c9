import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { copyFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { createSecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { createCa, issue } from './helpers/certs.js';
import { get } from './helpers/http.js';
import { startLb } from './helpers/lb.js';

const ca = createCa();
const backendCert = issue(ca, 'backend', ['DNS:localhost', 'IP:127.0.0.1']);
const lbClient = issue(ca, 'lb-client', [], { usage: 'client' });
const poolClient = issue(ca, 'lb-pool-client', [], { usage: 'client' });

/** The CN of the client certificate a request came with. */
function peerName(socket: TLSSocket): string {
  return String((socket.getPeerCertificate().subject as { CN?: string } | undefined)?.CN);
}

/** An HTTPS backend (HTTP/1.1, or HTTP/2 only) that requires a client certificate from `ca` and answers with its CN. */
async function mtlsBackend(t: { after(fn: () => unknown): void }, h2 = false): Promise<string> {
  const options = { cert: backendCert.cert, key: backendCert.key, ca: ca.cert, requestCert: true, rejectUnauthorized: true };
  const server = h2
    ? createSecureServer(options, (req, res) => res.end(`h2 ${peerName(req.socket as TLSSocket)}`))
    // One request per connection: a connection made after a reload shows the reloaded certificate.
    : createHttpsServer(options, (req, res) => { req.resume(); res.setHeader('connection', 'close'); res.end(`h1 ${peerName(req.socket as TLSSocket)}`); });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('BACKEND_CERT_FILE: a backend that requires a client certificate gets the balancer\'s; without one it is down', async (t) => {
  const url = await mtlsBackend(t);
  const lb = await startLb({ BACKENDS: url, BACKEND_CA_FILE: ca.certFile, BACKEND_CERT_FILE: lbClient.certFile, BACKEND_KEY_FILE: lbClient.keyFile });
  t.after(() => lb.stop());
  const ok = await get(`${lb.url}/x`);
  assert.equal(ok.status, 200);
  assert.equal(ok.body, 'h1 lb-client');

  const without = await startLb({ BACKENDS: url, BACKEND_CA_FILE: ca.certFile });
  t.after(() => without.stop());
  await without.waitForLog((l) => l.msg === 'backend is down');
  assert.equal((await get(without.url)).status, 503);
});

test('a pool\'s tls: { cert, key, ca } for its backends (HTTP/1.1 and HTTP/2), beside the global one; its files are reloaded when they change', async (t) => {
  const h1 = await mtlsBackend(t);
  const shared = await mtlsBackend(t);
  const h2 = await mtlsBackend(t, true);
  const certFile = join(ca.dir, 'live-client.pem');
  const keyFile = join(ca.dir, 'live-client.key');
  copyFileSync(poolClient.certFile, certFile);
  copyFileSync(poolClient.keyFile, keyFile);
  const file = join(ca.dir, 'mtls.yaml');
  writeFileSync(file, JSON.stringify({
    backendTls: { ca: ca.certFile, cert: lbClient.certFile, key: lbClient.keyFile },
    pools: {
      own: { backends: [h1], tls: { cert: certFile, key: keyFile, ca: ca.certFile } },
      grpc: { backends: [h2], proto: 'h2', tls: { cert: certFile, key: keyFile, ca: ca.certFile, servername: 'localhost' } },
      global: { backends: [shared] },
    },
    routes: [
      { name: 'own', matches: [{ path: { type: 'PathPrefix', value: '/own' } }], backendRefs: [{ name: 'own' }] },
      { name: 'h2', matches: [{ path: { type: 'PathPrefix', value: '/h2' } }], backendRefs: [{ name: 'grpc' }] },
      { name: 'global', backendRefs: [{ name: 'global' }] },
    ],
  }));
  const lb = await startLb({}, { args: ['--config', file] });
  t.after(() => lb.stop());
  assert.equal((await get(`${lb.url}/own`)).body, 'h1 lb-pool-client');
  assert.equal((await get(`${lb.url}/h2`)).body, 'h2 lb-pool-client');
  assert.equal((await get(`${lb.url}/other`)).body, 'h1 lb-client');

  copyFileSync(lbClient.keyFile, keyFile);
  copyFileSync(lbClient.certFile, certFile);
  await lb.waitForLog((l) => l.msg === 'backend TLS files reloaded' && (l.files as string[]).includes(certFile), 15_000);
  // A new connection shows the new certificate (the backend closes each after its answer).
  assert.equal((await get(`${lb.url}/own`)).body, 'h1 lb-client');
});
