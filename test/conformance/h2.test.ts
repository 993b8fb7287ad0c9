// @engine-independent: HTTP/2 backends are served through the node engine whatever ENGINE says
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { request, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { createSecureServer, type Http2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MiB, PATTERN, pump, sha } from '../helpers/pattern.js';
import { createCa, type Ca } from '../helpers/certs.js';
import { get } from '../helpers/http.js';
import { startBackend } from '../helpers/backend.js';
import { echoName, startH2Backend } from '../helpers/h2-backend.js';
import { firstAvailable, settled, startBalancer, until } from '../helpers/in-process.js';
import { refusing } from './backends.js';

/**
 * The proxy's rules over the h2 transport: HTTP/1.1 clients to h2c backends (prior knowledge),
 * every stream an attempt of its own. The shared `runConformance` cases script HTTP/1.1
 * backends byte by byte, so this file holds the cases that apply, with HTTP/2 backends.
 */
describe('h2 transport: forwarding', () => {
  it('forwards method, path, body and headers; pseudo-headers from the request line, Host as :authority, connection headers dropped', async (t) => {
    const backend = await startH2Backend(t, 'a');
    const { url } = await startBalancer(t, 'node', [backend.entry]);
    const res = await get(`${url}/p?q=1`, {
      method: 'POST', body: 'hello',
      headers: { host: 'example.test', 'content-type': 'text/plain', connection: 'keep-alive, x-hop', 'x-hop': '1', 'keep-alive': 'timeout=5', te: 'trailers, deflate', cookie: 'a=1' },
    });
    assert.deepEqual([res.status, res.body, res.headers['x-backend']], [200, 'ahello', 'a']);
    assert.ok(res.headers['x-request-id'], 'our request id');
    const seen = backend.streams[0]!.headers;
    assert.deepEqual([seen[':method'], seen[':path'], seen[':authority'], seen[':scheme']], ['POST', '/p?q=1', 'example.test', 'http']);
    assert.equal(seen.host, undefined, 'Host travels as :authority');
    assert.equal(seen['x-hop'], undefined, 'a header named in Connection is dropped');
    assert.equal(seen['keep-alive'], undefined);
    assert.equal(seen.te, 'trailers', 'TE is kept as trailers only');
    assert.equal(seen.cookie, 'a=1');
    assert.equal(seen['x-forwarded-host'], 'example.test');
    assert.match(String(seen.forwarded), /for=127\.0\.0\.1;host="example.test";proto=http/);
  });

  it('multiplexes: sequential and concurrent requests share one session; each is a request to the strategy', async (t) => {
    const a = await startH2Backend(t, 'a');
    const b = await startH2Backend(t, 'b');
    const { url, lb } = await startBalancer(t, 'node', [a.entry, b.entry]);
    const bodies = await Promise.all(Array.from({ length: 10 }, () => get(url).then((r) => r.body)));
    assert.equal(bodies.filter((x) => x === 'a').length, 5, 'round robin per request');
    assert.equal(bodies.filter((x) => x === 'b').length, 5);
    assert.equal(a.sessions.length, 1, 'one connection to a carries its five streams');
    assert.equal(b.sessions.length, 1);
    assert.deepEqual(lb.connections(lb.pool.backends[0]!), { open: 1, busy: 0, idle: 1 });
    await until(() => lb.pool.backends.every((x) => x.inFlight === 0), 'nothing in flight');
  });

  it('one pool, both protocols: HTTP/1.1 and h2c backends take turns, and a retry crosses from one transport to the other', async (t) => {
    const h2 = await startH2Backend(t, 'h2');
    const h1 = await startBackend('h1');
    t.after(() => h1.close());
    const { url, lb } = await startBalancer(t, 'node', [h2.entry, `${h1.url}|id=h1`]);
    const bodies = [];
    for (let i = 0; i < 4; i++) bodies.push((await get(url)).body);
    assert.deepEqual(bodies, ['h2', 'h1', 'h2', 'h1']);
    assert.deepEqual(lb.pool.backends.map((b) => b.proto), ['h2c', 'http1']);
    const down = `${await refusing()}|proto=h2c`;
    const mixed = await startBalancer(t, 'node', [down, `${h1.url}|id=h1`], { RETRIES: '1' }, firstAvailable);
    const post = await get(mixed.url, { method: 'POST', body: 'x' });
    assert.deepEqual([post.status, post.body], [200, 'h1']);
  });

  it('opens another session when one is at the backend\'s SETTINGS_MAX_CONCURRENT_STREAMS', async (t) => {
    const held: (() => void)[] = [];
    const backend = await startH2Backend(t, 'a', (stream, headers, self) => {
      held.push(() => echoName(stream, headers, self));
    }, { maxConcurrentStreams: 2 });
    const { url } = await startBalancer(t, 'node', [backend.entry]);
    // One request first, so that the session has the backend's SETTINGS before the others come.
    const first = get(url);
    await until(() => held.length === 1, 'the first stream reached the backend');
    const rest = [get(url), get(url), get(url)];
    await until(() => held.length === 4, 'every stream reached the backend');
    assert.equal(backend.sessions.length, 2, 'two streams a session');
    for (const release of held) release();
    assert.deepEqual((await Promise.all([first, ...rest])).map((r) => r.status), [200, 200, 200, 200]);
  });
});

/**
 * An HTTP/2 backend over TLS with a certificate from `ca` for 127.0.0.1, answering each stream
 * with `onStream`; its sessions are destroyed and it is closed after the test. Resolves with its
 * BACKENDS entry (`proto=h2`).
 */
async function tlsH2Backend(t: { after(fn: () => unknown): void }, ca: Ca, onStream: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void): Promise<string> {
  const cert = ca.issue('h2-backend', ['127.0.0.1']);
  const server = createSecureServer({ cert: cert.cert, key: cert.key });
  server.on('stream', onStream);
  const sessions: Http2Session[] = [];
  server.on('session', (session) => sessions.push(session));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const session of sessions) session.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}|proto=h2`;
}

describe('h2 transport: HTTP/2 over TLS (proto=h2)', () => {
  it('speaks h2 by ALPN to an https:// backend, verified against BACKEND_CA_FILE; an unknown CA is a 502', async (t) => {
    const ca = createCa();
    const entry = await tlsH2Backend(t, ca, (stream, headers) => {
      stream.respond({ ':status': 200 });
      stream.end(`tls ${String(headers[':scheme'])} ${stream.session!.alpnProtocol}`);
    });
    const { url } = await startBalancer(t, 'node', [entry], { BACKEND_CA_FILE: ca.certFile });
    assert.deepEqual([(await get(url)).body], ['tls https h2']);
    const untrusted = await startBalancer(t, 'node', [entry], { BACKEND_CA_FILE: createCa().certFile });
    assert.equal((await get(untrusted.url)).status, 502);
  });

  it('an asynchronous onResponse holds the head of an h2 backend over TLS, and its body behind it', async (t) => {
    const ca = createCa();
    const body = 'h'.repeat(200_000);
    const entry = await tlsH2Backend(t, ca, (stream) => {
      stream.respond({ ':status': 200 });
      stream.end(body);
    });
    const dir = mkdtempSync(join(tmpdir(), 'lb-h2-hooks-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const module = join(dir, 'later.mjs');
    writeFileSync(module, 'export async function onResponse(ctx, head) { await new Promise((resolve) => setTimeout(resolve, 5)); head.headers.set("x-later", String(head.status)); }\n');
    const { url } = await startBalancer(t, 'node', [entry], { BACKEND_CA_FILE: ca.certFile, HOOKS_MODULE: module });
    const res = await get(`${url}/x`);
    assert.deepEqual([res.status, res.headers['x-later'], res.body.length, res.body === body], [200, '200', body.length, true]);
  });
});

describe('h2 transport: failures and retries', () => {
  it('a backend that refuses connections: 502, and retried elsewhere for any method, body included', async (t) => {
    const down = `${await refusing()}|proto=h2c`;
    const ok = await startH2Backend(t, 'ok');
    const alone = await startBalancer(t, 'node', [down]);
    assert.equal((await get(alone.url)).status, 502);
    const { url } = await startBalancer(t, 'node', [down, ok.entry], { RETRIES: '1' }, firstAvailable);
    const post = await get(url, { method: 'POST', body: 'payload' });
    assert.deepEqual([post.status, post.body], [200, 'okpayload']);
  });

  it('a stream reset by the backend after the request is 502; an idempotent request without a body is retried', async (t) => {
    const resetting = await startH2Backend(t, 'r', (stream) => { stream.resume(); stream.on('end', () => stream.close(2)); });
    const ok = await startH2Backend(t, 'ok');
    const alone = await startBalancer(t, 'node', [resetting.entry]);
    assert.equal((await get(alone.url)).status, 502);
    const { url } = await startBalancer(t, 'node', [resetting.entry, ok.entry], { RETRIES: '1' }, firstAvailable);
    assert.deepEqual([(await get(url)).body], ['ok']);
    assert.equal((await get(url, { method: 'POST', body: 'x' })).status, 502, 'a POST that reached the backend is not repeated');
  });

  it('a stream refused unprocessed (REFUSED_STREAM) is retried for any method', async (t) => {
    const refusingStreams = await startH2Backend(t, 'r', (stream) => stream.close(7 /* REFUSED_STREAM */));
    const ok = await startH2Backend(t, 'ok');
    const { url } = await startBalancer(t, 'node', [refusingStreams.entry, ok.entry], { RETRIES: '1' }, firstAvailable);
    const post = await get(url, { method: 'POST' });
    assert.deepEqual([post.status, post.body], [200, 'ok']);
  });

  it('GOAWAY: a stream above its last stream id is retried on another backend for any method; the session takes no new stream', async (t) => {
    let streams = 0;
    const going = await startH2Backend(t, 'g', (stream, headers, self) => {
      // Going away on the second stream: the first was processed, this one (above it) was not.
      if (++streams === 2) stream.session!.goaway(0, stream.id! - 2);
      else echoName(stream, headers, self);
    });
    const ok = await startH2Backend(t, 'ok');
    const { url, lb } = await startBalancer(t, 'node', [going.entry, ok.entry], { RETRIES: '1' }, firstAvailable);
    assert.equal((await get(url)).body, 'g');
    const post = await get(url, { method: 'POST' });
    assert.deepEqual([post.status, post.body], [200, 'ok'], 'retried on ok');
    assert.equal(lb.pool.get('g')!.inFlight, 0);
    assert.equal((await get(url)).body, 'g', 'g again, on a new session');
    assert.equal(going.sessions.length, 2);
  });

  it('RETRY_ON_STATUS: a 503 for a GET is retried on another backend, and the refused answer\'s stream is cancelled', async (t) => {
    let closedCode: number | undefined;
    const busy = await startH2Backend(t, 'busy', (stream) => {
      stream.on('close', () => { closedCode = stream.rstCode; });
      stream.respond({ ':status': 503 });
      stream.write('busy');
    });
    const ok = await startH2Backend(t, 'ok');
    const { url } = await startBalancer(t, 'node', [busy.entry, ok.entry], { RETRIES: '1', RETRY_ON_STATUS: '503' }, firstAvailable);
    const res = await get(url);
    assert.deepEqual([res.status, res.body], [200, 'ok']);
    await until(() => closedCode !== undefined, 'the 503 stream closed');
    assert.equal(closedCode, 8 /* CANCEL */);
  });

  it('a client that leaves mid-response: the backend\'s stream is cancelled and nothing stays in flight', async (t) => {
    let closedCode: number | undefined;
    const backend = await startH2Backend(t, 'slow', (stream) => {
      stream.on('close', () => { closedCode = stream.rstCode; });
      stream.respond({ ':status': 200 });
      stream.write('first part');
    });
    const { port, lb } = await startBalancer(t, 'node', [backend.entry]);
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false });
    req.on('error', () => undefined);
    req.end();
    const [res] = await once(req, 'response') as [IncomingMessage];
    await once(res, 'data');
    req.destroy();
    await until(() => closedCode !== undefined, 'the backend saw its stream closed');
    assert.equal(closedCode, 8 /* CANCEL */);
    await until(() => lb.pool.backends[0]!.inFlight === 0, 'nothing in flight');
  });

  it('no response head within PROXY_TIMEOUT: 504, the stream cancelled', async (t) => {
    let closed = 0;
    const slow = await startH2Backend(t, 's', (stream) => { stream.resume(); stream.on('close', () => { closed++; }); });
    const { url } = await startBalancer(t, 'node', [slow.entry], { PROXY_TIMEOUT: '200ms' });
    assert.equal((await get(url)).status, 504);
    await until(() => closed === 1, 'the backend saw its stream closed');
  });
});

describe('h2 transport: trailers', () => {
  it('an HTTP/1.1 client that sent TE: trailers gets the backend\'s trailers on a chunked response; one that did not, none', async (t) => {
    const backend = await startH2Backend(t, 'a', (stream) => {
      stream.respond({ ':status': 200 }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-checksum': 'abc' }));
      stream.end('body');
    });
    const { port } = await startBalancer(t, 'node', [backend.entry]);
    const { request } = await import('node:http');
    const trailersOf = (te: boolean) => new Promise<Record<string, string | undefined>>((resolve, reject) => {
      const req = request({ port, host: '127.0.0.1', agent: false, headers: te ? { te: 'trailers' } : {} }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.trailers));
      });
      req.on('error', reject);
      req.end();
    });
    assert.deepEqual(await trailersOf(true), { 'x-checksum': 'abc' });
    assert.deepEqual(await trailersOf(false), {});
  });
});



describe('h2 transport: streaming and flow control', () => {
  it('a 16 MiB request body and a 16 MiB response body arrive byte for byte', async (t) => {
    const body = Buffer.concat([PATTERN, PATTERN, PATTERN, PATTERN]);
    const backend = await startH2Backend(t, 'big', (stream) => {
      const hash = createHash('sha256');
      let length = 0;
      stream.on('data', (c: Buffer) => { hash.update(c); length += c.length; });
      stream.on('end', () => {
        stream.respond({ ':status': 200, 'x-got': `${length} ${hash.digest('hex')}`, 'content-length': body.length });
        stream.end(body);
      });
    });
    const { port } = await startBalancer(t, 'node', [backend.entry]);
    const req = request({ host: '127.0.0.1', port, method: 'PUT', path: '/up', agent: false, headers: { 'content-length': body.length } });
    req.end(body);
    const [res] = await once(req, 'response') as [IncomingMessage];
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    const got = Buffer.concat(chunks);
    assert.equal(res.headers['x-got'], `${body.length} ${sha(body)}`, 'the backend got the request body whole');
    assert.equal(sha(got), sha(body), 'the client got the response body whole');
  });

  it('backpressure down: a client that reads nothing holds the backend\'s stream back (HTTP/2 flow control)', async (t) => {
    const total = 64 * MiB;
    const progress = { written: 0 };
    let started = false;
    const backend = await startH2Backend(t, 'big', (stream) => {
      started = true;
      stream.respond({ ':status': 200, 'content-length': total });
      pump(stream, total, progress);
    });
    const { port } = await startBalancer(t, 'node', [backend.entry]);
    const client = connect(port, '127.0.0.1');
    client.on('error', () => undefined);
    t.after(() => client.destroy());
    client.pause();
    client.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => started, 'the backend got the request');
    const held = await settled(() => progress.written);
    assert.ok(held < total / 4, `the backend wrote ${(held / MiB).toFixed(1)} MiB of 64 while the client read nothing`);
    let read = 0;
    client.on('data', (c: Buffer) => { read += c.length; });
    client.resume();
    await new Promise<void>((resolve) => client.on('data', () => { if (read > total) resolve(); }));
    assert.ok(read > total, 'and once the client reads, all of it arrives');
  });

  it('backpressure up: a backend that reads nothing holds the client\'s upload back', async (t) => {
    const total = 64 * MiB;
    const progress = { written: 0 };
    let seen: import('node:http2').ServerHttp2Stream | undefined;
    const backend = await startH2Backend(t, 'sink', (stream) => { stream.pause(); seen = stream; });
    const { port } = await startBalancer(t, 'node', [backend.entry]);
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/up', agent: false, headers: { 'content-length': total } });
    req.on('error', () => undefined);
    t.after(() => req.destroy());
    pump(req, total, progress);
    await until(() => seen !== undefined, 'the backend got the request');
    const held = await settled(() => progress.written);
    assert.ok(held < total / 4, `the client wrote ${(held / MiB).toFixed(1)} MiB of 64 while the backend read nothing`);
    let read = 0;
    seen!.on('data', (c: Buffer) => { read += c.length; });
    seen!.resume();
    await once(seen!, 'end');
    assert.equal(read, total, 'and once the backend reads, all of it arrives');
  });
});
