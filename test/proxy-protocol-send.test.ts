import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createServer as createHttpServer } from 'node:http';
import { TLSSocket } from 'node:tls';
import { connect as h2Connect } from 'node:http2';
import { createCa } from './helpers/certs.js';
import { parseProxyHeader, type ProxyHeader } from '../src/edge/proxy-protocol.js';
import { startBackend, type Handler } from './helpers/backend.js';
import { get } from './helpers/http.js';
import { startInProcess } from './helpers/in-process-lb.js';
import { freePort } from './helpers/lb.js';

// Sending the PROXY protocol to a pool's backends (BACKEND_PROXY_PROTOCOL, proxyProtocol: per
// pool), both engines (TEST_ENGINE): a raw backend that reads each connection's header with our
// own parser, and HAProxy 2.6 behind us with accept-proxy.

/**
 * A backend on raw sockets: each connection must open with a PROXY header (any version); each
 * request on it is answered with what that header said and the connection's number, kept alive.
 */
async function startHeaderBackend(t: { after(fn: () => unknown): void }): Promise<{ url: string; connections: ProxyHeader[] }> {
  const connections: ProxyHeader[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let bytes = Buffer.alloc(0);
    let header: ProxyHeader | undefined;
    let id = -1;
    socket.on('data', (chunk: Buffer) => {
      bytes = Buffer.concat([bytes, chunk]);
      if (header === undefined) {
        const parsed = parseProxyHeader(bytes, 'auto');
        if (parsed === 'more') return;
        if ('invalid' in parsed) { socket.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n'); return; }
        header = parsed;
        id = connections.push(parsed) - 1;
        bytes = bytes.subarray(parsed.length);
      }
      // GET requests without bodies: each head is a request.
      for (let end = bytes.indexOf('\r\n\r\n'); end >= 0; end = bytes.indexOf('\r\n\r\n')) {
        const path = bytes.toString('latin1', 0, bytes.indexOf('\r\n')).split(' ')[1];
        bytes = bytes.subarray(end + 4);
        const body = JSON.stringify({ path, connection: id, header: { ...header, tlvs: undefined } satisfies Omit<ProxyHeader, 'tlvs'> & { tlvs: undefined } });
        socket.write(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => { for (const s of sockets) s.destroy(); server.close(); });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connections };
}

/** `count` requests on one kept-alive client connection from `from`; each answer's parsed body. */
async function onOneConnection(url: string, from: string, paths: readonly string[]): Promise<{ path: string; connection: number; header: Omit<ProxyHeader, 'tlvs'> }[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const out = [];
    for (const path of paths) {
      const res = await get(`${url}${path}`, { agent, localAddress: from });
      assert.equal(res.status, 200, `${path}: ${res.body}`);
      out.push(JSON.parse(res.body) as { path: string; connection: number; header: Omit<ProxyHeader, 'tlvs'> });
    }
    return out;
  } finally {
    agent.destroy();
  }
}

for (const version of ['v2', 'v1'] as const) {
  test(`BACKEND_PROXY_PROTOCOL=${version}: each new backend connection tells its client and our listener; reuse only within one client connection`, async (t) => {
    const backend = await startHeaderBackend(t);
    const lb = await startInProcess({ BACKENDS: backend.url, BACKEND_PROXY_PROTOCOL: version, TRUSTED_PROXIES: '127.0.0.2', PROXY_PROTOCOL: 'v1' }, t);
    // The health check went first: a header without a client (v2 LOCAL, v1 UNKNOWN).
    assert.equal(backend.connections[0]?.source, undefined, 'the health check names no client');
    assert.equal(backend.connections[0]?.version, version === 'v2' ? 2 : 1);
    const first = await onOneConnection(lb.url, '127.0.0.3', ['/a-1', '/a-2', '/a-3']);
    for (const seen of first) {
      assert.equal(seen.header.version, version === 'v2' ? 2 : 1);
      assert.equal(seen.header.source, '127.0.0.3');
      assert.ok(seen.header.sourcePort > 0, 'the client\'s port');
      assert.equal(seen.header.destination, '127.0.0.1');
      assert.equal(seen.header.destinationPort, lb.port, 'our listener');
    }
    assert.equal(new Set(first.map((s) => s.connection)).size, 1, 'one client connection: one backend connection, kept alive');
    const second = await onOneConnection(lb.url, '127.0.0.4', ['/b-1', '/b-2']);
    assert.equal(second[0]!.header.source, '127.0.0.4');
    assert.equal(new Set(second.map((s) => s.connection)).size, 1);
    assert.ok(!first.some((f) => f.connection === second[0]!.connection), 'another client never gets the first one\'s connection');
    // Once the first client connection is gone, its idle backend connection is still not another's.
    const third = await onOneConnection(lb.url, '127.0.0.3', ['/c-1']);
    assert.notEqual(third[0]!.connection, first[0]!.connection, 'a new client connection (another port) gets a new backend connection');
    assert.equal(third[0]!.header.source, '127.0.0.3');
  });
}

test('the client a trusted proxy named (PROXY v1 in front) is the one told to the backend (v2 behind)', async (t) => {
  const backend = await startHeaderBackend(t);
  const lb = await startInProcess({ BACKENDS: backend.url, BACKEND_PROXY_PROTOCOL: 'v2', TRUSTED_PROXIES: '127.0.0.2', PROXY_PROTOCOL: 'v1' }, t);
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s = connect({ port: lb.port, host: '127.0.0.1', localAddress: '127.0.0.2' });
    s.once('connect', () => resolve(s)).once('error', reject);
  });
  socket.setEncoding('latin1');
  let data = '';
  socket.on('data', (chunk: string) => { data += chunk; });
  socket.write('PROXY TCP6 2001:db8::7 ::1 40000 443\r\nGET /proxied HTTP/1.1\r\nHost: lb.test\r\nConnection: close\r\n\r\n');
  await once(socket, 'end');
  const body = JSON.parse(data.slice(data.indexOf('\r\n\r\n') + 4)) as { header: Omit<ProxyHeader, 'tlvs'> };
  assert.equal(body.header.source, '2001:db8::7');
  assert.equal(body.header.sourcePort, 40000, 'the port the PROXY header gave');
  // Mixed families: our IPv4 listener's address mapped into IPv6 (our parser shows it as IPv4).
  assert.equal(body.header.destination, '127.0.0.1');
  assert.equal(body.header.destinationPort, lb.port);
});

test('an address from X-Forwarded-For (TRUSTED_PROXIES) is told with port 0', async (t) => {
  const backend = await startHeaderBackend(t);
  const lb = await startInProcess({ BACKENDS: backend.url, BACKEND_PROXY_PROTOCOL: 'v1', TRUSTED_PROXIES: '127.0.0.2' }, t);
  const res = await get(`${lb.url}/xff`, { agent: false, localAddress: '127.0.0.2', headers: { 'x-forwarded-for': '198.51.100.9' } });
  const body = JSON.parse(res.body) as { header: Omit<ProxyHeader, 'tlvs'> };
  assert.equal(body.header.source, '198.51.100.9');
  assert.equal(body.header.sourcePort, 0);
});

test('per pool in the config file: proxyProtocol: v2 for one pool, none for the other', async (t) => {
  const withHeader = await startHeaderBackend(t);
  const plain = await startBackend('plain');
  t.after(() => plain.close());
  const lb = await startInProcess({}, t, () => ({
    pools: { told: { backends: [withHeader.url], proxyProtocol: 'v2' }, plain: { backends: [plain.url] } },
    routes: [
      { name: 'told', matches: [{ path: { type: 'PathPrefix', value: '/told' } }], backendRefs: [{ name: 'told' }] },
      { name: 'plain', matches: [{ path: { type: 'PathPrefix', value: '/plain' } }], backendRefs: [{ name: 'plain' }] },
    ],
  }));
  const told = await get(`${lb.url}/told`, { agent: false, localAddress: '127.0.0.5' });
  assert.equal((JSON.parse(told.body) as { header: { source: string } }).header.source, '127.0.0.5');
  const other = await get(`${lb.url}/plain`, { agent: false });
  assert.equal(other.status, 200, 'a backend that reads no header is sent none');
});


test('an HTTP/2 client (h2c) to an HTTP/1.1 backend: its connection\'s client is told, and its streams share one backend connection at a time', async (t) => {
  const backend = await startHeaderBackend(t);
  const lb = await startInProcess({ BACKENDS: backend.url, BACKEND_PROXY_PROTOCOL: 'v2' }, t);
  const session = h2Connect(lb.url, { localAddress: '127.0.0.7' } as never);
  t.after(() => session.destroy());
  for (const path of ['/h2-1', '/h2-2']) {
    const stream = session.request({ ':path': path });
    stream.setEncoding('utf8');
    let body = '';
    stream.on('data', (chunk: string) => { body += chunk; });
    const [headers] = await once(stream, 'response') as [Record<string, unknown>];
    assert.equal(headers[':status'], 200);
    await once(stream, 'end');
    assert.equal((JSON.parse(body) as { header: { source: string } }).header.source, '127.0.0.7');
  }
  session.close();
});

test('https:// backends (proto http1): the header comes before the TLS handshake', async (t) => {
  const ca = createCa();
  const cert = ca.issue('backend', ['localhost', '127.0.0.1']);
  const headers: ProxyHeader[] = [];
  // Reads the PROXY header off the raw connection, then serves HTTPS on what follows.
  const https = createHttpServer((req, res) => {
    req.resume();
    res.end(JSON.stringify({ source: (req.socket as TLSSocket & { proxied?: ProxyHeader }).proxied?.source }));
  });
  const raw = createServer((socket) => {
    socket.on('error', () => undefined);
    let bytes = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      bytes = Buffer.concat([bytes, chunk]);
      const parsed = parseProxyHeader(bytes, 'auto');
      if (parsed === 'more') return;
      socket.off('data', onData);
      if ('invalid' in parsed) { socket.destroy(); return; }
      headers.push(parsed);
      socket.pause();
      socket.unshift(bytes.subarray(parsed.length));
      const secure = Object.assign(new TLSSocket(socket, { isServer: true, cert: cert.cert, key: cert.key }), { proxied: parsed });
      secure.on('error', () => undefined);
      https.emit('connection', secure);
    };
    socket.on('data', onData);
  });
  raw.listen(0, '127.0.0.1');
  await once(raw, 'listening');
  t.after(() => { https.closeAllConnections(); raw.close(); });
  const port = (raw.address() as AddressInfo).port;
  const lb = await startInProcess({ BACKENDS: `https://127.0.0.1:${port}`, BACKEND_PROTO: 'http1', BACKEND_CA_FILE: ca.certFile, BACKEND_PROXY_PROTOCOL: 'v2' }, t);
  const res = await get(`${lb.url}/secure`, { agent: false, localAddress: '127.0.0.6' });
  assert.equal(res.status, 200, res.body);
  assert.equal((JSON.parse(res.body) as { source: string }).source, '127.0.0.6');
  assert.ok(headers.length >= 2, 'the health check and the request each opened with a header');
  assert.equal(headers[0]!.source, undefined, 'the health check: LOCAL');
});

const haproxy = spawnSync('haproxy', ['-v']).status === 0;

const echoXff: Handler = (req, res) => {
  req.resume();
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ xff: req.headers['x-forwarded-for'], port: req.headers['x-seen-port'], path: req.url }));
};

test('HAProxy 2.6 behind us with accept-proxy (v1 and v2): it sees the client we pass', { skip: haproxy ? false : 'haproxy is not installed (apt-get install haproxy)' }, async (t) => {
  const echo = await startBackend('echo', echoXff);
  t.after(() => echo.close());
  const [v1Port, v2Port] = [await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'lb-haproxy-'));
  const config = join(dir, 'haproxy.cfg');
  writeFileSync(config, [
    'defaults', '  mode http', '  timeout connect 5s', '  timeout client 30s', '  timeout server 30s',
    ...[['v1', v1Port], ['v2', v2Port]].flatMap(([name, port]) => [
      `frontend ${name}`, `  bind 127.0.0.1:${port} accept-proxy`,
      '  http-request set-header X-Forwarded-For %[src]', '  http-request set-header X-Seen-Port %[src_port]', '  default_backend echo']),
    'backend echo', `  server echo ${echo.url.replace('http://', '')}`, ''].join('\n'));
  const proc = spawn('haproxy', ['-db', '-f', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout.on('data', (d: Buffer) => { output += d.toString(); });
  proc.stderr.on('data', (d: Buffer) => { output += d.toString(); });
  const exited = once(proc, 'exit');
  t.after(async () => { if (proc.exitCode === null) { proc.kill('SIGTERM'); await exited; } });
  // HAProxy listens once it has read its configuration: a header-less probe it closes tells it is up (bounded).
  for (const port of [v1Port, v2Port]) {
    let up = false;
    for (let i = 0; i < 200 && !up; i++) {
      if (proc.exitCode !== null) assert.fail(`haproxy exited: ${output}`);
      up = await new Promise<boolean>((resolve) => {
        const s = connect(port, '127.0.0.1');
        s.once('connect', () => { s.destroy(); resolve(true); });
        s.once('error', () => { setTimeout(() => resolve(false), 50); });
      });
    }
    assert.ok(up, `haproxy listens on ${port}: ${output}`);
  }
  for (const [version, port] of [['v1', v1Port], ['v2', v2Port]] as const) {
    // HEALTH_CHECK_INTERVAL is long: the start-up round (through HAProxy, a LOCAL / UNKNOWN header) must pass for traffic to flow.
    const lb = await startInProcess({ BACKENDS: `http://127.0.0.1:${port}`, BACKEND_PROXY_PROTOCOL: version }, t);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());
    for (const path of [`/${version}-1`, `/${version}-2`]) {
      const res = await get(`${lb.url}${path}`, { agent, localAddress: '127.0.0.3' });
      assert.equal(res.status, 200, `${version}: ${res.body} ${output}`);
      const seen = JSON.parse(res.body) as { xff: string; port: string; path: string };
      assert.equal(seen.xff, '127.0.0.3', `${version}: HAProxy's src is our client`);
      assert.ok(Number(seen.port) > 0, `${version}: and its port`);
    }
    await lb.stop();
  }
});
