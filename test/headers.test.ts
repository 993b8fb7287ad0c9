import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { rawExchange } from './helpers/http.js';
import { startBackend } from './helpers/backend.js';
import { startInProcess } from './helpers/in-process-lb.js';

test('request: hop-by-hop headers go, forwarding headers are set or appended, the rest arrives intact', async (t) => {
  const echo = await startBackend('echo', (req, res) => {
    req.resume();
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ url: req.url, rawHeaders: req.rawHeaders }));
  });
  t.after(() => echo.close());
  const lb = await startInProcess({ BACKENDS: echo.url }, t);

  const target = '/a%20b/c;p=1/%2F..%2f?x=1&y=%2F&z=%C3%A9&&empty=#';
  const response = await rawExchange(lb.port, [
    `GET ${target.slice(0, -1)} HTTP/1.1`,
    'Host: app.test:8443',
    'Connection: keep-alive, X-Hop, close',
    'X-Hop: secret',
    'Keep-Alive: timeout=5',
    'Proxy-Connection: keep-alive',
    'TE: trailers',
    'Trailer: X-Checksum',
    'Upgrade: h2c',
    'X-Forwarded-For: 10.1.1.1',
    'X-Forwarded-For: 10.2.2.2',
    'Forwarded: for=10.1.1.1;proto=https',
    'X-Multi: one',
    'Accept: */*',
    'X-Multi: two',
    'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    '', ''].join('\r\n'));
  const body = JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4)) as { url: string; rawHeaders: string[] };
  assert.equal(body.url, target.slice(0, -1), 'path and query byte for byte');
  const received: [string, string][] = [];
  for (let i = 0; i < body.rawHeaders.length; i += 2) received.push([body.rawHeaders[i]!.toLowerCase(), body.rawHeaders[i + 1]!]);
  const values = (name: string) => received.filter(([k]) => k === name).map(([, v]) => v);

  for (const hop of ['x-hop', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'transfer-encoding']) {
    assert.deepEqual(values(hop), [], `${hop} is not forwarded`);
  }
  assert.ok(values('connection').every((v) => /^(keep-alive|close)$/.test(v)), 'Connection is the proxy\'s own');
  assert.deepEqual(values('host'), ['app.test:8443'], 'Host is preserved');
  assert.deepEqual(values('x-forwarded-for'), ['10.1.1.1, 10.2.2.2, 127.0.0.1'], 'X-Forwarded-For is appended to');
  assert.deepEqual(values('x-forwarded-proto'), ['http']);
  assert.deepEqual(values('x-forwarded-host'), ['app.test:8443']);
  assert.deepEqual(values('forwarded'), ['for=10.1.1.1;proto=https, for=127.0.0.1;host="app.test:8443";proto=http']);
  assert.deepEqual(values('traceparent'), ['00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01']);
  const endToEnd = received.filter(([k]) => k === 'x-multi' || k === 'accept');
  assert.deepEqual(endToEnd, [['x-multi', 'one'], ['accept', '*/*'], ['x-multi', 'two']], 'order and repeats survive');
});

test('response: hop-by-hop headers go; repeated Set-Cookie, order and case survive', async (t) => {
  // A raw backend, so the exact bytes of its response are under the test's control.
  const sockets = new Set<Socket>();
  const raw = createServer((socket) => {
    sockets.add(socket);
    let buffered = '';
    socket.on('data', (chunk) => {
      buffered += chunk.toString('latin1');
      while (buffered.includes('\r\n\r\n')) {
        buffered = buffered.slice(buffered.indexOf('\r\n\r\n') + 4);
        socket.write([
          'HTTP/1.1 200 OK',
          'X-First: 1',
          'Set-Cookie: a=1; Path=/',
          'Connection: keep-alive, X-Internal',
          'X-Internal: do-not-leak',
          'Keep-Alive: timeout=99',
          'Proxy-Connection: keep-alive',
          'Trailer: X-Checksum',
          'Upgrade: h2c',
          'Set-Cookie: b=2; HttpOnly',
          'X-Case-Kept: Yes',
          'Transfer-Encoding: chunked',
          '', '5', 'hello', '0', '', ''].join('\r\n'));
      }
    });
  }).listen(0, '127.0.0.1');
  await once(raw, 'listening');
  t.after(() => { for (const s of sockets) s.destroy(); raw.close(); });
  const lb = await startInProcess({ BACKENDS: `http://127.0.0.1:${(raw.address() as { port: number }).port}` }, t);

  const response = await rawExchange(lb.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const head = response.slice(0, response.indexOf('\r\n\r\n')).split('\r\n').slice(1);
  const names = head.map((l) => l.slice(0, l.indexOf(':')));
  assert.deepEqual(names.filter((n) => /^(x-first|set-cookie|x-case-kept)$/i.test(n)), ['X-First', 'Set-Cookie', 'Set-Cookie', 'X-Case-Kept']);
  assert.ok(head.includes('Set-Cookie: a=1; Path=/') && head.includes('Set-Cookie: b=2; HttpOnly'));
  for (const hop of ['X-Internal', 'Proxy-Connection', 'Trailer', 'Upgrade']) {
    assert.ok(!names.some((n) => n.toLowerCase() === hop.toLowerCase()), `${hop} is not forwarded`);
  }
  assert.ok(!head.includes('Keep-Alive: timeout=99'), 'the backend\'s Keep-Alive is not forwarded');
  assert.ok(response.endsWith('hello0\r\n\r\n') || response.includes('hello'), 'the body arrives');
});
