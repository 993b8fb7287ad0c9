import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { get, rawExchange } from './helpers/http.js';
import { startBackend, type TestBackend } from './helpers/backend.js';
import { startLb, type RunningLb } from './helpers/lb.js';

let backend: TestBackend;
let lb: RunningLb;

before(async () => {
  backend = await startBackend('b');
  lb = await startLb({ BACKENDS: backend.url, HEALTH_CHECK_PATH: '/health' });
});
after(async () => {
  await lb.stop();
  await backend.close();
});

const CASES: [string, string, number][] = [
  ['both Content-Length and Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
  ['two different Content-Lengths', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!', 400],
  ['a non-numeric Content-Length', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: five\r\n\r\nhello', 400],
  ['headers over the limit', `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`, 431],
  ['garbage', '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n', 400],
  ['a bad request line', 'GET /a b c HTTP/1.1\r\nHost: x\r\n\r\n', 400],
  ['HTTP/1.1 without Host', 'GET / HTTP/1.1\r\nAccept: */*\r\n\r\n', 400],
  ['an invalid chunk size', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n', 400],
];

for (const [name, bytes, status] of CASES) {
  test(`${name} → ${status}, never forwarded, and the balancer keeps serving`, async () => {
    const before = backend.requests.filter((r) => r.url !== '/health').length;
    const response = await rawExchange(lb.port, bytes);
    assert.match(response, new RegExp(`^HTTP/1\\.1 ${status} `), JSON.stringify(response));
    assert.match(response, /\r\nConnection: close\r\n/i);
    assert.equal(backend.requests.filter((r) => r.url !== '/health').length, before, 'nothing reached the backend');
    const ok = await get(lb.url);
    assert.equal(ok.status, 200);
  });
}
