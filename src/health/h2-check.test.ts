import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { Pool } from '../pool/index.js';
import { h2Check } from './h2-check.js';
import { HealthMonitor } from './monitor.js';

async function h2c(t: { after(fn: () => unknown): void }, answer: (stream: ServerHttp2Stream, path: string) => void): Promise<string> {
  const server = createServer();
  server.on('stream', (stream, headers) => answer(stream, String(headers[':path'])));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => new Promise((resolve) => server.close(resolve)));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('the HTTP/2 check: 2xx-3xx pass, others fail with the status; application/health+json read as over HTTP/1.1; refused and silent backends fail', async (t) => {
  const origin = await h2c(t, (stream, path) => {
    if (path === '/ok') stream.respond({ ':status': 204 });
    else if (path === '/warn') stream.respond({ ':status': 200, 'content-type': 'application/health+json' });
    else if (path === '/silent') return;
    else stream.respond({ ':status': 503 });
    stream.end(path === '/warn' ? '{"status":"warn","output":"disk"}' : undefined);
  });
  const check = h2Check(undefined);
  assert.deepEqual(await check(`${origin}/ok`, 1000), { ok: true });
  assert.deepEqual(await check(`${origin}/down`, 1000), { ok: false, reason: 'status 503' });
  assert.deepEqual(await check(`${origin}/warn`, 1000), { ok: true, warning: 'health status warn: disk' });
  assert.deepEqual(await check(`${origin}/silent`, 100), { ok: false, reason: 'timeout after 100ms' });
  assert.deepEqual(await check('http://127.0.0.1:1/', 1000), { ok: false, reason: 'connection refused' });
});

test('the monitor checks h2c backends over HTTP/2 (an HTTP/1.1 GET would fail against a server that speaks only HTTP/2)', async (t) => {
  const origin = await h2c(t, (stream) => { stream.respond({ ':status': 200 }); stream.end(); });
  const pool = new Pool([`${origin}/a|proto=h2c|id=h2`, `${origin}/b|id=h1`]);
  const monitor = new HealthMonitor(pool, { path: '/health', interval: 60_000, timeout: 1000, rise: 1, fall: 1 }, pino({ level: 'silent' }));
  t.after(() => monitor.stop());
  await monitor.runRound();
  assert.deepEqual(pool.backends.map((b) => [b.id, b.healthy]), [['h2', true], ['h1', false]]);
});
