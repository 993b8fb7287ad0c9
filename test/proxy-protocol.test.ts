import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { connect as h2Connect } from 'node:http2';
import { createCa } from './helpers/certs.js';
import { V2_SIGNATURE } from '../src/edge/proxy-protocol.js';
import { startBackend, type Handler } from './helpers/backend.js';
import { get, responsesIn } from './helpers/http.js';
import { startInProcess, type InProcessLb } from './helpers/in-process-lb.js';
import { freePort } from './helpers/lb.js';

// PROXY_PROTOCOL on real sockets, both engines (TEST_ENGINE): hand-written v1 and v2 headers from
// peers trusted (127.0.0.2) and not (127.0.0.1), and HAProxy 2.6 as the sender.

const echo: Handler = (req, res) => {
  req.resume();
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ xff: req.headers['x-forwarded-for'] }));
};

/**
 * Opens a connection from `from`, writes `parts` one after the other (each on its own turn of
 * the loop), and resolves with what came back up to the first complete response, or the close.
 */
async function exchange(port: number, from: string, parts: readonly Buffer[], responses = 1): Promise<{ data: string; closed: boolean }> {
  const socket = connect({ port, host: '127.0.0.1', localAddress: from });
  await once(socket, 'connect');
  socket.setEncoding('latin1');
  let data = '';
  const result = new Promise<{ data: string; closed: boolean }>((resolve) => {
    socket.on('data', (chunk: string) => {
      data += chunk;
      if (responsesIn(data).complete >= responses) { socket.destroy(); resolve({ data, closed: false }); }
    });
    socket.on('close', () => resolve({ data, closed: true }));
    socket.on('error', () => undefined);
  });
  for (const part of parts) {
    if (socket.destroyed) break;
    socket.write(part);
    await new Promise((resolve) => setImmediate(resolve));
  }
  return result;
}

const request = (path: string, xff = true): Buffer => Buffer.from(`GET ${path} HTTP/1.1\r\nHost: lb.test\r\n${xff ? 'X-Forwarded-For: 203.0.113.200\r\n' : ''}\r\n`, 'latin1');

function v2(command: number, family: number, addresses: Buffer, tlvs = Buffer.alloc(0)): Buffer {
  const head = Buffer.from([0x20 | command, family, 0, 0]);
  head.writeUInt16BE(addresses.length + tlvs.length, 2);
  return Buffer.concat([V2_SIGNATURE, head, addresses, tlvs]);
}

function ipv4Block(source: readonly number[], sourcePort: number): Buffer {
  const b = Buffer.alloc(12);
  b.set(source, 0);
  b.set([127, 0, 0, 1], 4);
  b.writeUInt16BE(sourcePort, 8);
  b.writeUInt16BE(80, 10);
  return b;
}

async function start(t: { after(fn: () => unknown): void }, env: Record<string, string> = {}): Promise<InProcessLb> {
  const backend = await startBackend('a', echo);
  t.after(() => backend.close());
  return startInProcess({ BACKENDS: backend.url, TRUSTED_PROXIES: '127.0.0.2', PROXY_PROTOCOL: 'auto', ...env }, t);
}

function clientOf(lb: InProcessLb, path: string): Promise<unknown> {
  return lb.waitForLog((l) => l.msg === 'request' && l.path === path).then((l) => l.client);
}

test('v1 and v2 headers from a trusted proxy give the client address; X-Forwarded-For is then not believed', async (t) => {
  const lb = await start(t);
  const v1 = await exchange(lb.port, '127.0.0.2', [Buffer.from('PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n'), request('/v1')]);
  assert.match(v1.data, /^HTTP\/1\.1 200/);
  assert.match(v1.data, /"xff":"203\.0\.113\.200, 203\.0\.113\.7"/, 'appended: the PROXY source');
  assert.equal(await clientOf(lb, '/v1'), '203.0.113.7');
  // Header and request in one write, as HAProxy sends them.
  const together = await exchange(lb.port, '127.0.0.2', [Buffer.concat([Buffer.from('PROXY TCP6 2001:db8::7 ::1 5555 80\r\n'), request('/v1-six')])]);
  assert.match(together.data, /^HTTP\/1\.1 200/);
  assert.equal(await clientOf(lb, '/v1-six'), '2001:db8::7');
  const tlv = Buffer.from([0x05, 0x00, 0x02, 0x69, 0x64]);
  const four = await exchange(lb.port, '127.0.0.2', [v2(1, 0x11, ipv4Block([198, 51, 100, 4], 4000), tlv), request('/v2')]);
  assert.match(four.data, /^HTTP\/1\.1 200/);
  assert.equal(await clientOf(lb, '/v2'), '198.51.100.4');
  const six = Buffer.alloc(36);
  six.writeUInt16BE(0x2001, 0); six.writeUInt16BE(0x0db8, 2); six[15] = 9; six[31] = 1;
  const sixth = await exchange(lb.port, '127.0.0.2', [v2(1, 0x21, six), request('/v2-six')]);
  assert.match(sixth.data, /^HTTP\/1\.1 200/);
  assert.equal(await clientOf(lb, '/v2-six'), '2001:db8::9');
  // Keep-alive: every request of the connection has the header's source.
  const kept = await exchange(lb.port, '127.0.0.2', [Buffer.from('PROXY TCP4 203.0.113.11 127.0.0.1 5555 80\r\n'), request('/kept-1'), request('/kept-2')], 2);
  assert.equal(kept.data.match(/HTTP\/1\.1 200/g)?.length, 2);
  assert.equal(await clientOf(lb, '/kept-1'), '203.0.113.11');
  assert.equal(await clientOf(lb, '/kept-2'), '203.0.113.11');
  // Byte by byte: the header is read across reads.
  const header = Buffer.from('PROXY TCP4 203.0.113.8 127.0.0.1 5555 80\r\n');
  const slow = await exchange(lb.port, '127.0.0.2', [...[...header].map((b) => Buffer.from([b])), request('/slow')]);
  assert.match(slow.data, /^HTTP\/1\.1 200/);
  assert.equal(await clientOf(lb, '/slow'), '203.0.113.8');
});

test('LOCAL and UNKNOWN leave the proxy as the client (a trusted one: its X-Forwarded-For is then believed)', async (t) => {
  const lb = await start(t);
  assert.match((await exchange(lb.port, '127.0.0.2', [v2(0, 0x00, Buffer.alloc(0)), request('/local', false)])).data, /^HTTP\/1\.1 200/);
  assert.equal(await clientOf(lb, '/local'), '127.0.0.2');
  assert.match((await exchange(lb.port, '127.0.0.2', [Buffer.from('PROXY UNKNOWN\r\n'), request('/unknown', false)])).data, /^HTTP\/1\.1 200/);
  assert.equal(await clientOf(lb, '/unknown'), '127.0.0.2');
  await exchange(lb.port, '127.0.0.2', [v2(0, 0x00, Buffer.alloc(0)), request('/local-xff')]);
  assert.equal(await clientOf(lb, '/local-xff'), '203.0.113.200');
});

test('a malformed or missing header from a trusted proxy, and any header from another peer, close the connection unanswered', async (t) => {
  const lb = await start(t);
  const cases: [string, string, Buffer[]][] = [
    ['malformed v1', '127.0.0.2', [Buffer.from('PROXY TCP4 203.0.113.7 nowhere 1 2\r\n'), request('/bad')]],
    ['v2 with a bad version', '127.0.0.2', [Buffer.concat([V2_SIGNATURE, Buffer.from([0x31, 0x11, 0, 0])]), request('/bad')]],
    ['v2 with overrunning TLVs', '127.0.0.2', [v2(1, 0x11, ipv4Block([1, 2, 3, 4], 1), Buffer.from([1, 0, 9, 0])), request('/bad')]],
    ['no header from a trusted proxy', '127.0.0.2', [request('/bad')]],
    ['a v1 header from a peer not trusted', '127.0.0.1', [Buffer.from('PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n'), request('/bad')]],
    ['a v2 header from a peer not trusted', '127.0.0.1', [v2(1, 0x11, ipv4Block([203, 0, 113, 7], 1)), request('/bad')]],
  ];
  for (const [what, from, parts] of cases) {
    const result = await exchange(lb.port, from, parts);
    assert.deepEqual(result, { data: '', closed: true }, what);
  }
  assert.equal(lb.logs.filter((l) => l.msg === 'request').length, 0, 'no request ran');
  // A peer not trusted, without a header, is served as ever (its X-Forwarded-For not believed).
  const plain = await exchange(lb.port, '127.0.0.1', [request('/plain')]);
  assert.match(plain.data, /^HTTP\/1\.1 200/);
  assert.equal(await clientOf(lb, '/plain'), '127.0.0.1');
});

test('a truncated header is closed at HEADER_TIMEOUT', async (t) => {
  const lb = await start(t, { HEADER_TIMEOUT: '300ms' });
  const result = await exchange(lb.port, '127.0.0.2', [Buffer.from('PROXY TCP4 203.0.113.7')]);
  assert.deepEqual(result, { data: '', closed: true });
  await lb.waitForLog((l) => l.msg === 'connection closed: no PROXY protocol header within HEADER_TIMEOUT');
});

test('v1 only or v2 only: the other version is refused', async (t) => {
  const lb = await start(t, { PROXY_PROTOCOL: 'v2' });
  assert.deepEqual(await exchange(lb.port, '127.0.0.2', [Buffer.from('PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n'), request('/x')]), { data: '', closed: true });
  assert.match((await exchange(lb.port, '127.0.0.2', [v2(1, 0x11, ipv4Block([203, 0, 113, 7], 1)), request('/v2-only')])).data, /^HTTP\/1\.1 200/);
});

test('the PROXY source, when it is itself a trusted proxy, may name the client by X-Forwarded-For', async (t) => {
  const lb = await start(t, { TRUSTED_PROXIES: '127.0.0.2,10.0.0.0/8' });
  await exchange(lb.port, '127.0.0.2', [Buffer.from('PROXY TCP4 10.1.1.1 127.0.0.1 5555 80\r\n'), request('/inner-trusted')]);
  assert.equal(await clientOf(lb, '/inner-trusted'), '203.0.113.200');
  await exchange(lb.port, '127.0.0.2', [Buffer.from('PROXY TCP4 198.51.100.1 127.0.0.1 5555 80\r\n'), request('/inner-not')]);
  assert.equal(await clientOf(lb, '/inner-not'), '198.51.100.1');
});

test('h2c with prior knowledge after the header: its requests see the PROXY source', async (t) => {
  const lb = await start(t);
  const raw = connect({ port: lb.port, host: '127.0.0.1', localAddress: '127.0.0.2' });
  await once(raw, 'connect');
  raw.write('PROXY TCP4 203.0.113.31 127.0.0.1 5555 80\r\n');
  const session = h2Connect(`http://127.0.0.1:${lb.port}`, { createConnection: () => raw });
  t.after(() => session.destroy());
  for (const path of ['/h2c-1', '/h2c-2']) {
    const stream = session.request({ ':path': path });
    stream.resume();
    const [headers] = await once(stream, 'response') as [Record<string, unknown>];
    assert.equal(headers[':status'], 200);
    await once(stream, 'end');
    assert.equal(await clientOf(lb, path), '203.0.113.31');
  }
  session.close();
});

test('the TLS listener reads the header before the handshake: HTTP/1.1 and h2 (ALPN) see the PROXY source', async (t) => {
  const ca = createCa();
  const cert = ca.issue('lb', ['localhost', '127.0.0.1']);
  const lb = await start(t, { TLS_CERT_FILE: cert.certFile, TLS_KEY_FILE: cert.keyFile });
  /** A raw connection from 127.0.0.2 that sends `header`, then speaks TLS over it with `alpn`. */
  const secure = async (header: string, alpn: string) => {
    const raw = connect({ port: lb.port, host: '127.0.0.1', localAddress: '127.0.0.2' });
    await once(raw, 'connect');
    raw.write(header);
    const socket = tlsConnect({ socket: raw, ca: ca.cert, servername: 'localhost', ALPNProtocols: [alpn] });
    await once(socket, 'secureConnect');
    return socket;
  };
  const one = await secure('PROXY TCP4 203.0.113.21 127.0.0.1 5555 443\r\n', 'http/1.1');
  one.setEncoding('latin1');
  let data = '';
  one.on('data', (chunk: string) => { data += chunk; });
  one.write('GET /tls-1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
  await once(one, 'end');
  assert.match(data, /^HTTP\/1\.1 200/);
  assert.equal(await clientOf(lb, '/tls-1'), '203.0.113.21');
  const two = await secure('PROXY TCP4 203.0.113.22 127.0.0.1 5555 443\r\n', 'h2');
  const session = h2Connect('https://localhost', { createConnection: () => two });
  t.after(() => session.destroy());
  const stream = session.request({ ':path': '/tls-2' });
  stream.resume();
  const [headers] = await once(stream, 'response') as [Record<string, unknown>];
  assert.equal(headers[':status'], 200);
  await once(stream, 'end');
  session.close();
  assert.equal(await clientOf(lb, '/tls-2'), '203.0.113.22');
  // No header from the trusted proxy: closed before any handshake.
  const bare = connect({ port: lb.port, host: '127.0.0.1', localAddress: '127.0.0.2' });
  await once(bare, 'connect');
  const refused = tlsConnect({ socket: bare, ca: ca.cert, servername: 'localhost' });
  const [err] = await once(refused, 'error') as [Error];
  assert.ok(err instanceof Error);
});

const haproxy = spawnSync('haproxy', ['-v']).status === 0;

test('HAProxy 2.6 in front, send-proxy and send-proxy-v2: the client behind it is the client', { skip: haproxy ? false : 'haproxy is not installed (apt-get install haproxy)' }, async (t) => {
  const lb = await start(t);
  const [v1Port, v2Port] = [await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'lb-haproxy-'));
  const config = join(dir, 'haproxy.cfg');
  writeFileSync(config, [
    'defaults', '  mode tcp', '  timeout connect 5s', '  timeout client 30s', '  timeout server 30s',
    `frontend v1`, `  bind 127.0.0.1:${v1Port}`, '  default_backend v1',
    `frontend v2`, `  bind 127.0.0.1:${v2Port}`, '  default_backend v2',
    'backend v1', `  server lb 127.0.0.1:${lb.port} send-proxy source 127.0.0.2`,
    'backend v2', `  server lb 127.0.0.1:${lb.port} send-proxy-v2 source 127.0.0.2`, ''].join('\n'));
  const proc = spawn('haproxy', ['-db', '-f', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout.on('data', (d: Buffer) => { output += d.toString(); });
  proc.stderr.on('data', (d: Buffer) => { output += d.toString(); });
  const exited = once(proc, 'exit');
  t.after(async () => { if (proc.exitCode === null) { proc.kill('SIGTERM'); await exited; } });
  for (const [port, path] of [[v1Port, '/haproxy-v1'], [v2Port, '/haproxy-v2']] as const) {
    // HAProxy listens once it has read its configuration: retried until it answers (bounded).
    let res: Awaited<ReturnType<typeof get>> | undefined;
    for (let i = 0; i < 200 && res === undefined; i++) {
      if (proc.exitCode !== null) assert.fail(`haproxy exited: ${output}`);
      res = await get(`http://127.0.0.1:${port}${path}`, { localAddress: '127.0.0.3' }).catch(async () => { await new Promise((r) => setTimeout(r, 50)); return undefined; });
    }
    assert.ok(res, `haproxy answered on ${port}: ${output}`);
    assert.equal(res.status, 200, path);
    assert.equal(await clientOf(lb, path), '127.0.0.3', `${path}: the client behind HAProxy`);
  }
});
