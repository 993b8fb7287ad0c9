import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { get, rawConnect, rawExchange, whenClosed } from './helpers/http.js';
import { startBackend, type TestBackend } from './helpers/backend.js';
import { startInProcess, type InProcessLb } from './helpers/in-process-lb.js';

let backend: TestBackend;
let lb: InProcessLb;

before(async () => {
  backend = await startBackend('b');
  lb = await startInProcess({ BACKENDS: backend.url, HEALTH_CHECK_PATH: '/health' });
});
after(async () => {
  await lb.stop();
  await backend.close();
});

/** Malformed requests: a 4xx from the balancer, never forwarded. */
const MALFORMED: [string, string, number][] = [
  ['headers over the limit', `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`, 431],
  ['a request target over the head limit', `GET /${'a'.repeat(16 * 1024)} HTTP/1.1\r\nHost: x\r\n\r\n`, 414],
  ['a request target that never ends', `GET /${'a'.repeat(20 * 1024)}`, 414],
  ['a request target in the authority form', 'GET example.test:80 HTTP/1.1\r\nHost: x\r\n\r\n', 400],
  ['a request target of another scheme', 'GET ftp://example.test/x HTTP/1.1\r\nHost: x\r\n\r\n', 400],
  ['an absolute-form target with credentials', 'GET http://user:pw@example.test/x HTTP/1.1\r\nHost: x\r\n\r\n', 400],
  ['the asterisk form for GET', 'GET * HTTP/1.1\r\nHost: x\r\n\r\n', 400],
  ['CONNECT', 'CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n', 400],
  ['garbage', '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n', 400],
  ['a bad request line', 'GET /a b c HTTP/1.1\r\nHost: x\r\n\r\n', 400],
  // One answer for every version but 1.0 and 1.1 on an HTTP/1 connection (RFC 9110 §15.6.6): a
  // request line saying 2.0 is not an HTTP/2 stream (it was a 500 on the node engine, a 200 on the fast one).
  ['a request line saying HTTP/2.0', 'GET / HTTP/2.0\r\nHost: x\r\n\r\n', 505],
  ['a request line saying HTTP/2.0, with a body', 'POST / HTTP/2.0\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi', 505],
  ['an Upgrade saying HTTP/2.0', 'GET / HTTP/2.0\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n', 505],
  ['CONNECT saying HTTP/2.0', 'CONNECT example.test:443 HTTP/2.0\r\nHost: example.test:443\r\n\r\n', 505],
  ['a request line saying HTTP/0.9', 'GET / HTTP/0.9\r\nHost: x\r\n\r\n', 505],
  ['a request line saying HTTP/1.2', 'GET / HTTP/1.2\r\nHost: x\r\n\r\n', 505],
  ['a request line saying HTTP/3.0', 'GET / HTTP/3.0\r\nHost: x\r\n\r\n', 505],
  ['a version that is not digit.digit', 'GET / HTTP/1.x\r\nHost: x\r\n\r\n', 400],
];

/** Every ambiguous framing is refused with 400, never forwarded (RFC 9112 sections 3.2, 5, 6, 7). */
const VECTORS: [string, string][] = [
  ['Content-Length with Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
  ['Transfer-Encoding with Content-Length after it', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n'],
  ['Transfer-Encoding: gzip, chunked', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n'],
  ['Transfer-Encoding: chunked, identity', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n'],
  ['Transfer-Encoding: xchunked', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n'],
  ['Transfer-Encoding: gzip alone', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc'],
  ['Transfer-Encoding twice', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
  ['duplicate equal Content-Length', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc'],
  ['duplicate different Content-Length', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd'],
  ['Content-Length list', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc'],
  ['non-numeric Content-Length', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3x\r\n\r\nabc'],
  ['signed Content-Length', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc'],
  ['obsolete line folding', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  folded\r\n\r\n'],
  ['bare LF line endings', 'GET / HTTP/1.1\nHost: x\nX-A: a\n\n'],
  ['a bare LF inside the head', 'GET / HTTP/1.1\r\nHost: x\nX-A: a\r\n\r\n'],
  ['whitespace before the colon', 'GET / HTTP/1.1\r\nHost: x\r\nX-A : a\r\n\r\n'],
  ['whitespace before the colon of Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n'],
  ['negative chunk size', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n\r\n'],
  ['non-hex chunk size', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n'],
  ['overflowing chunk size', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n\r\n'],
  ['chunk data longer than its size', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n'],
  ['HTTP/1.1 without Host', 'GET / HTTP/1.1\r\nAccept: */*\r\n\r\n'],
  ['HTTP/1.1 with two Host headers', 'GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n'],
  ['NUL in a header value', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n'],
  ['bare CR in a header value', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n'],
];

const CASES: [string, string, number][] = [...MALFORMED, ...VECTORS.map(([name, bytes]): [string, string, number] => [`smuggling vector: ${name}`, bytes, 400])];

for (const [name, bytes, status] of CASES) {
  test(`${name} → ${status}, never forwarded, and the balancer keeps serving`, async () => {
    const forwarded = () => backend.requests.filter((r) => r.url !== '/health').length;
    const before = forwarded();
    const response = await rawExchange(lb.port, bytes);
    assert.match(response, new RegExp(`^HTTP/1\\.1 ${status} `), JSON.stringify(response.slice(0, 80)));
    assert.match(response, /\r\nConnection: close\r\n/i);
    assert.equal(forwarded(), before, 'nothing reached the backend');
    assert.equal((await get(lb.url)).status, 200);
  });
}

for (const fin of [false, true]) {
  test(`a complete request followed by malformed bytes${fin ? ' and FIN' : ''} gets its response, then 400`, async () => {
    const firsts = () => backend.requests.filter((r) => r.url === '/first').length;
    const before = firsts();
    const bytes = 'POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGARBAGE\r\n\r\n';
    const socket = await rawConnect(lb.port);
    socket.setEncoding('latin1');
    let response = '';
    socket.on('data', (chunk: string) => { response += chunk; });
    if (fin) socket.end(bytes);
    else socket.write(bytes);
    // The balancer closes the connection after its 400.
    await whenClosed(socket);
    const statuses = [...response.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
    assert.deepEqual(statuses, [200, 400], JSON.stringify(response));
    assert.match(response, /\r\n\r\nbHTTP\/1\.1 400 /, 'the backend\'s answer whole, then the 400');
    assert.match(response.slice(response.lastIndexOf('HTTP/1.1 400')), /\r\nConnection: close\r\n/i);
    assert.equal(firsts(), before + 1, 'the backend got the request once');
  });
}

test('what is forwarded is re-framed: a chunked body with extensions reaches the backend as plain chunks', async (t) => {
  const echo = await startBackend('echo', (req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => res.end(JSON.stringify({ te: req.headers['transfer-encoding'], cl: req.headers['content-length'], body })));
  });
  t.after(() => echo.close());
  const other = await startInProcess({ BACKENDS: echo.url });
  t.after(() => other.stop());
  const response = await rawExchange(other.port, 'POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n');
  const seen = JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4)) as { te?: string; cl?: string; body: string };
  assert.equal(seen.body, 'abcde');
  assert.ok(seen.te === 'chunked' || seen.cl === '5', JSON.stringify(seen));
  assert.equal((await get(other.url)).status, 200);
});
