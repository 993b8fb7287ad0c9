import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request } from 'node:http';
import type { Socket } from 'node:net';
import { get, rawConnect, rawExchange, whenClosed } from './helpers/http.js';
import { startBackend } from './helpers/backend.js';
import { startLb } from './helpers/lb.js';
import { startInProcess } from './helpers/in-process-lb.js';

function head(headers: string[]): string {
  return ['GET / HTTP/1.1', 'Host: x', 'Connection: close', ...headers, '', ''].join('\r\n');
}

test('MAX_HEADER_SIZE and MAX_HEADERS: over the limit is 431 and never forwarded', async (t) => {
  const backend = await startBackend('b');
  t.after(() => backend.close());
  const lb = await startInProcess({ BACKENDS: backend.url, HEALTH_CHECK_PATH: '/health', MAX_HEADER_SIZE: '4KiB', MAX_HEADERS: '10' });
  t.after(() => lb.stop());
  const forwarded = () => backend.requests.filter((r) => r.url !== '/health').length;
  assert.match(await rawExchange(lb.port, head([`X-Big: ${'a'.repeat(5000)}`])), /^HTTP\/1\.1 431 /);
  assert.match(await rawExchange(lb.port, head(Array.from({ length: 11 }, (_, i) => `X-H${i}: v`))), /^HTTP\/1\.1 431 /);
  assert.equal(forwarded(), 0);
  assert.match(await rawExchange(lb.port, head([`X-Big: ${'a'.repeat(3000)}`])), /^HTTP\/1\.1 200 /);
  assert.match(await rawExchange(lb.port, head(Array.from({ length: 8 }, (_, i) => `X-H${i}: v`))), /^HTTP\/1\.1 200 /);
});

test('MAX_BODY_SIZE: a larger Content-Length is 413 at once; a larger chunked body is cut with 413', async (t) => {
  const backend = await startBackend('b');
  t.after(() => backend.close());
  const lb = await startInProcess({ BACKENDS: backend.url, HEALTH_CHECK_PATH: '/health', MAX_BODY_SIZE: '1KiB' });
  t.after(() => lb.stop());
  const declared = await rawExchange(lb.port, `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2048\r\n\r\n${'a'.repeat(2048)}`);
  assert.match(declared, /^HTTP\/1\.1 413 /);
  assert.equal(backend.requests.filter((r) => r.url !== '/health').length, 0, 'refused before forwarding');
  const chunk = 'a'.repeat(600);
  const chunked = await rawExchange(lb.port, `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n${chunk}\r\n258\r\n${chunk}\r\n0\r\n\r\n`);
  assert.match(chunked, /^HTTP\/1\.1 413 /);
  const small = await get(lb.url, { method: 'POST', body: 'a'.repeat(512) });
  assert.equal(small.status, 200);
});

test('HEADER_TIMEOUT: a request head that does not arrive in time gets 408 and the connection closes', async (t) => {
  const backend = await startBackend('b');
  t.after(() => backend.close());
  const lb = await startInProcess({ BACKENDS: backend.url, HEADER_TIMEOUT: '1s' });
  t.after(() => lb.stop());
  const socket = await rawConnect(lb.port);
  socket.setEncoding('latin1');
  let data = '';
  socket.on('data', (c: string) => { data += c; });
  const opened = performance.now();
  socket.write('GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ');
  await whenClosed(socket);
  const ms = performance.now() - opened;
  assert.match(data, /^HTTP\/1\.1 408 /);
  assert.ok(ms >= 900, `closed after ${ms.toFixed(0)} ms, not before HEADER_TIMEOUT`);
});

test('CLIENT_IDLE_TIMEOUT closes idle keep-alive connections', async (t) => {
  const backend = await startBackend('b');
  t.after(() => backend.close());
  const lb = await startInProcess({ BACKENDS: backend.url, CLIENT_IDLE_TIMEOUT: '300ms' });
  t.after(() => lb.stop());
  const socket = await rawConnect(lb.port);
  socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await once(socket, 'data');
  const idle = performance.now();
  await whenClosed(socket);
  assert.ok(performance.now() - idle >= 250);
});

test('MAX_CONNECTIONS: connections beyond it are closed at once while the others keep being served', async (t) => {
  const backend = await startBackend('b');
  t.after(() => backend.close());
  const lb = await startInProcess({ BACKENDS: backend.url, MAX_CONNECTIONS: '5' });
  t.after(() => lb.stop());
  const held: Socket[] = [];
  for (let i = 0; i < 5; i++) {
    const s = await rawConnect(lb.port);
    s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await once(s, 'data');
    held.push(s);
  }
  const extra = await rawConnect(lb.port);
  extra.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  let got = '';
  extra.on('data', (c) => { got += c; });
  await whenClosed(extra);
  assert.equal(got, '', 'closed without an answer');
  await lb.waitForLog((l) => l.msg === 'connection refused: MAX_CONNECTIONS reached');
  for (const s of held) {
    s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const [chunk] = await once(s, 'data') as [Buffer];
    assert.match(chunk.toString(), /^HTTP\/1\.1 200 /, 'the others are still served');
  }
  held[0]!.destroy();
  await whenClosed(held[0]!);
  // The balancer notices the close a moment later; a few attempts, bounded, cover that.
  let later;
  for (let attempt = 0; later === undefined; attempt++) {
    later = await get(lb.url).catch((err: unknown) => { if (attempt >= 20) throw err; return undefined; });
  }
  assert.equal(later.status, 200, 'room again once a connection closes');
  for (const s of held) s.destroy();
});

test('slowloris: 500 connections trickling headers do not stop a normal client, and are closed at the header timeout', async (t) => {
  const backend = await startBackend('b');
  t.after(() => backend.close());
  const lb = await startInProcess({ BACKENDS: backend.url, HEADER_TIMEOUT: '3s' });
  t.after(() => lb.stop());
  const slow: Socket[] = [];
  for (let i = 0; i < 500; i++) {
    const s = await rawConnect(lb.port);
    s.on('error', () => undefined);
    s.write('GET / HTTP/1.1\r\nHost: x\r\n');
    slow.push(s);
  }
  const closed = slow.map(whenClosed);
  const opened = performance.now();
  // One byte per second per connection, bounded: the loop stops when they are all closed or after 8 s.
  let ticks = 0;
  const trickle = setInterval(() => {
    ticks++;
    for (const s of slow) if (!s.destroyed) s.write('X');
    if (ticks >= 8) clearInterval(trickle);
  }, 1000);
  t.after(() => clearInterval(trickle));

  const latencies: number[] = [];
  while (performance.now() - opened < 2500) {
    const started = performance.now();
    const res = await get(lb.url);
    latencies.push(performance.now() - started);
    assert.equal(res.status, 200);
  }
  latencies.sort((a, b) => a - b);
  const p99 = latencies[Math.floor(latencies.length * 0.99)]!;
  t.diagnostic(`normal client during slowloris: ${latencies.length} requests, p50 ${latencies[Math.floor(latencies.length / 2)]!.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms`);
  await Promise.all(closed);
  const all = performance.now() - opened;
  clearInterval(trickle);
  t.diagnostic(`all 500 slowloris connections closed after ${all.toFixed(0)} ms`);
  assert.ok(all >= 2500, `closed after ${all.toFixed(0)} ms, not before HEADER_TIMEOUT`);
});

// Stays on the CLI: its peak RSS (the balancer's own, apart from the test's) is what the diagnostic reports.
test('a slow reader of a 100 MiB response is not buffered for, and other clients are served meanwhile', async (t) => {
  const MiB = 1024 * 1024;
  /** What the backend has managed to write: backpressure from the paused client holds it back. */
  let written = 0;
  const backend = await startBackend('big', (req, res) => {
    if (req.url !== '/big') { res.end('small'); return; }
    const chunk = Buffer.alloc(64 * 1024, 120);
    res.setHeader('content-length', 100 * MiB);
    const pump = (): void => {
      while (written < 100 * MiB) {
        written += chunk.length;
        if (!res.write(chunk)) { res.once('drain', pump); return; }
      }
      res.end();
    };
    pump();
  });
  t.after(() => backend.close());
  const lb = await startLb({ BACKENDS: backend.url, HEALTH_CHECK_PATH: '/health' });
  t.after(() => lb.stop());

  const req = request(`${lb.url}/big`, { agent: false }).end();
  const [res] = await once(req, 'response') as [import('node:http').IncomingMessage];
  res.pause(); // the slow reader: reads nothing for a while
  const latencies: number[] = [];
  const pausedAt = performance.now();
  while (performance.now() - pausedAt < 1500) {
    const started = performance.now();
    assert.equal((await get(`${lb.url}/small`)).body, 'small');
    latencies.push(performance.now() - started);
  }
  const rssWhilePaused = lb.peakRssMiB();
  // Had the balancer read on for the paused client, the backend would have written it all by now.
  const writtenWhilePaused = written;
  assert.ok(writtenWhilePaused < 50 * MiB, `the backend wrote only ${(writtenWhilePaused / MiB).toFixed(1)} MiB of 100 while the client read nothing`);
  let bytes = 0;
  res.on('data', (c: Buffer) => { bytes += c.length; });
  res.resume();
  await once(res, 'end');
  assert.equal(bytes, 100 * MiB);
  latencies.sort((a, b) => a - b);
  const p99 = latencies[Math.floor(latencies.length * 0.99)]!;
  const peak = lb.peakRssMiB();
  t.diagnostic(`slow reader: backend held at ${(writtenWhilePaused / MiB).toFixed(1)} MiB; peak RSS ${rssWhilePaused.toFixed(1)} MiB while paused, ${peak.toFixed(1)} MiB overall; others' p99 ${p99.toFixed(2)} ms over ${latencies.length} requests`);
});
