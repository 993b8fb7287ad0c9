import { test } from 'node:test';
import assert from 'node:assert/strict';
import { get } from './helpers/http.js';
import { startBackend } from './helpers/backend.js';
import { startInProcess } from './helpers/in-process-lb.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('X-Request-Id: kept when sane, generated otherwise, sent upstream, returned, logged', async (t) => {
  const echo = await startBackend('echo', (req, res) => {
    res.end(JSON.stringify({ id: req.headers['x-request-id'], traceparent: req.headers.traceparent }));
  });
  t.after(() => echo.close());
  const lb = await startInProcess({ BACKENDS: echo.url }, t);

  const kept = await get(lb.url, { headers: { 'x-request-id': 'abc-123_XYZ.7', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } });
  assert.equal(kept.headers['x-request-id'], 'abc-123_XYZ.7');
  assert.deepEqual(JSON.parse(kept.body), { id: 'abc-123_XYZ.7', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' });
  const access = await lb.waitForLog((l) => l.msg === 'request' && l.reqId === 'abc-123_XYZ.7');
  assert.equal(access.status, 200);

  const generated = await get(lb.url);
  assert.match(String(generated.headers['x-request-id']), UUID);
  assert.equal(JSON.parse(generated.body).id, generated.headers['x-request-id']);

  for (const insane of ['has space', 'x'.repeat(129), 'quote"d', '']) {
    const res = await get(lb.url, { headers: { 'x-request-id': insane } });
    assert.match(String(res.headers['x-request-id']), UUID, `replaced: ${JSON.stringify(insane)}`);
    assert.equal(JSON.parse(res.body).id, res.headers['x-request-id']);
  }
});

test('every log line about a failed request carries its id', async (t) => {
  const broken = await startBackend('broken', (req, res) => { if (req.url === '/health') res.end(); else req.socket.destroy(); });
  t.after(() => broken.close());
  const lb = await startInProcess({ BACKENDS: broken.url, HEALTH_CHECK_PATH: '/health' }, t);
  const res = await get(lb.url, { headers: { 'x-request-id': 'trace-me' } });
  assert.equal(res.status, 502);
  await lb.waitForLog((l) => l.msg === 'request' && l.reqId === 'trace-me');
  const about = lb.logs.filter((l) => JSON.stringify(l).includes('trace-me'));
  assert.ok(about.length >= 2, 'the error line and the access line');
  assert.ok(about.every((l) => l.reqId === 'trace-me'));
});
