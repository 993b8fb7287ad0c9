import { test } from 'node:test';
import assert from 'node:assert/strict';
import { get } from './helpers/http.js';
import { startBackend } from './helpers/backend.js';
import { freePort, startLb } from './helpers/lb.js';

test('JSON lines: a start-up line with the effective configuration and one access line per request', async (t) => {
  const backend = await startBackend('b');
  t.after(() => backend.close());
  const lb = await startLb({ BACKENDS: backend.url, PROXY_TIMEOUT: '1m30s' });
  t.after(() => lb.stop());

  const starting = await lb.waitForLog((l) => l.msg === 'starting');
  const config = starting.config as Record<string, any>;
  assert.deepEqual(config.backends, [backend.url]);
  assert.equal(config.proxy.timeout, 90_000);
  assert.equal(config.strategy, 'round-robin');
  assert.equal(config.health.interval, 3_600_000);

  const res = await get(`${lb.url}/some/path?q=1`, { method: 'POST', body: 'hello', headers: { 'content-length': '5' } });
  const line = await lb.waitForLog((l) => l.msg === 'request' && l.reqId === res.headers['x-request-id']);
  assert.equal(line.method, 'POST');
  assert.equal(line.path, '/some/path?q=1');
  assert.equal(line.status, 200);
  assert.equal(line.bytes, 1);
  assert.equal(line.backend, `127.0.0.1:${backend.port}`);
  assert.equal(line.client, '127.0.0.1', 'the client address survives the upstream consuming the request body');
  assert.equal(typeof line.ms, 'number');
  assert.equal(line.level, 30);
  assert.equal(lb.logs.filter((l) => l.msg === 'request').length, 1, 'exactly one access line per request');
  // Every standard-output line is JSON.
  for (const text of lb.stdout().trim().split('\n')) assert.doesNotThrow(() => JSON.parse(text), text);
});

test('LOG_LEVEL is respected', async (t) => {
  const backend = await startBackend('b', undefined, { port: 'dedicated' });
  t.after(() => backend.close());
  const port = await freePort();
  const lb = await startLb({ BACKENDS: backend.url, LOG_LEVEL: 'warn', PORT: String(port) }, { waitListening: false });
  t.after(() => lb.stop());
  let res;
  for (let i = 0; ; i++) {
    try { res = await get(`http://127.0.0.1:${port}/`); break; } catch (err) {
      if (i > 200) throw err;
      await new Promise((r) => setTimeout(r, 25)); // polling a port that is not bound yet
    }
  }
  assert.equal(res.status, 200);
  await backend.close();
  await get(`http://127.0.0.1:${port}/`); // 502: logged at warn
  const warn = await lb.waitForLog((l) => l.level === 40 && /connection refused/.test(String(l.msg)));
  assert.equal(warn.status, 502);
  assert.equal(lb.logs.filter((l) => (l.level as number) < 40).length, 0, 'nothing below warn');
});

test('LOG_FORMAT=pretty is for people: one readable line per event, not JSON', async (t) => {
  const backend = await startBackend('b');
  t.after(() => backend.close());
  const port = await freePort();
  const lb = await startLb({ BACKENDS: backend.url, LOG_FORMAT: 'pretty', PORT: String(port) }, { waitListening: false });
  t.after(() => lb.stop());
  await lb.waitForText('listening');
  const text = lb.stdout();
  assert.match(text, /INFO.*listening/);
  assert.match(text, /backend is up/);
  assert.throws(() => JSON.parse(text.split('\n')[0]!));
});
