import { test } from 'node:test';
import assert from 'node:assert/strict';
import { prettyMessage } from './pretty-format.js';

const base = { level: 30, time: 1, pid: 7, hostname: 'h' };

test('a request is one compact access line: method path status duration backend id, then what else it has', () => {
  assert.equal(prettyMessage({ ...base, reqId: 'r1', method: 'GET', path: '/echo?x=1', status: 200, bytes: 5, ms: 1.25, backend: '127.0.0.1:8081', client: '127.0.0.1', msg: 'request' }),
    'GET /echo?x=1 200 1.25ms 127.0.0.1:8081 r1');
  assert.equal(prettyMessage({ ...base, reqId: 'r2', method: 'POST', path: '/', status: 502, bytes: 0, bytesIn: 3, ms: 4, client: '::1', tries: 3, error: 'ECONNREFUSED', msg: 'request' }),
    'POST / 502 4ms - r2 bytesIn=3 tries=3 error=ECONNREFUSED');
});

test('the start-up configuration is one summary line; listeners and health flips one line each; other records key=value', () => {
  const config = { port: 8080, backends: ['http://a:1', 'http://b:2', 'http://c:3', 'http://d:4'], strategy: 'least-connections', engine: 'node', workers: 0,
    health: { path: '/health', interval: 5000 }, proxy: { timeout: 10000 }, log: { level: 'info', format: 'pretty' } };
  assert.equal(prettyMessage({ ...base, config, msg: 'starting' }),
    'starting: 4 backends: http://a:1, http://b:2, http://c:3, …; strategy least-connections; health checks GET /health every 5s; engine node');
  assert.equal(prettyMessage({ ...base, config: { backends: ['http://a:1'], strategy: 'round-robin', health: { interval: 1500 }, workers: 'auto' }, workers: 2, msg: 'starting' }),
    'starting: 1 backend: http://a:1; strategy round-robin; health checks GET each backend\'s URL every 1500ms; workers auto workers=2');
  assert.equal(prettyMessage({ ...base, address: '::', port: 1234, proto: 'http', engine: 'node', strategy: 'round-robin', available: 3, backends: 3, msg: 'listening' }),
    'listening on http://[::]:1234 engine=node strategy=round-robin available=3 backends=3');
  assert.equal(prettyMessage({ ...base, address: '127.0.0.1', port: 9901, token: true, msg: 'admin listening' }), 'admin listening on http://127.0.0.1:9901 token=true');
  assert.equal(prettyMessage({ ...base, backend: 'a:1', url: 'http://a:1', healthy: false, reason: 'connection refused', msg: 'backend is down' }), 'backend is down: a:1 reason="connection refused"');
  assert.equal(prettyMessage({ ...base, component: 'admin', changes: { state: 'drain' }, msg: 'changed' }), 'changed component=admin changes={"state":"drain"}');
  const err = { message: 'boom', code: 'E_X', stack: 'Error: boom\n    at here' };
  assert.equal(prettyMessage({ ...base, level: 40, err, msg: 'failed' }), 'failed err="boom (E_X)"');
  assert.equal(prettyMessage({ ...base, level: 50, err, msg: 'failed' }), 'failed err="boom (E_X)"\nError: boom\n    at here', 'the stack at error level');
});
