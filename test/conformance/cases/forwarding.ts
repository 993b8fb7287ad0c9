import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startBackend } from '../../helpers/backend.js';
import { get } from '../../helpers/http.js';
import { startBalancer, type EngineName } from '../../helpers/in-process.js';
import { startRawBackend } from '../../helpers/raw-backend.js';
import { RawClient, values } from '../../helpers/raw-client.js';

/** Answers with the request's target and raw header lines as JSON. */
async function echoHeaders(t: { after(fn: () => unknown): void }) {
  const echo = await startBackend('echo', (req, res) => {
    req.resume();
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ method: req.method, url: req.url, rawHeaders: req.rawHeaders }));
  });
  t.after(() => echo.close());
  return echo;
}

function pairs(raw: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}

export function forwardingCases(engine: EngineName): void {
  describe(`forwarding (${engine})`, () => {
    it('request head: method and target byte for byte, hop-by-hop headers and those Connection names go, X-Forwarded-For appended, -Proto and -Host set, Forwarded appended, Host kept, the rest in order', async (t) => {
      const echo = await echoHeaders(t);
      const { port } = await startBalancer(t, engine, [echo.url]);
      const client = await RawClient.connect(port);
      t.after(() => client.close());
      const target = '/a%20b/c;p=1/%2F..%2f?x=1&y=%2F&z=%C3%A9&&empty=';
      client.write([
        `PATCH ${target} HTTP/1.1`,
        'Host: app.test:8443',
        'Connection: keep-alive, X-Hop',
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
        'X-Case-Kept: Value',
        'Content-Length: 0',
        '', ''].join('\r\n'));
      const [response] = await client.responses(1);
      assert.equal(response!.status, 200);
      const seen = JSON.parse(response!.body.toString()) as { method: string; url: string; rawHeaders: string[] };
      assert.deepEqual([seen.method, seen.url], ['PATCH', target]);
      const received = pairs(seen.rawHeaders);
      for (const hop of ['x-hop', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'transfer-encoding']) {
        assert.deepEqual(values(received, hop), [], `${hop} is not forwarded`);
      }
      assert.ok(values(received, 'connection').every((v) => /^(keep-alive|close)$/i.test(v)), 'Connection is the proxy\'s own');
      assert.deepEqual(values(received, 'host'), ['app.test:8443']);
      assert.deepEqual(values(received, 'x-forwarded-for'), ['10.1.1.1, 10.2.2.2, 127.0.0.1']);
      assert.deepEqual(values(received, 'x-forwarded-proto'), ['http']);
      assert.deepEqual(values(received, 'x-forwarded-host'), ['app.test:8443']);
      assert.deepEqual(values(received, 'forwarded'), ['for=10.1.1.1;proto=https, for=127.0.0.1;host="app.test:8443";proto=http']);
      assert.deepEqual(received.filter(([k]) => /^(x-multi|accept|x-case-kept)$/i.test(k)),
        [['X-Multi', 'one'], ['Accept', '*/*'], ['X-Multi', 'two'], ['X-Case-Kept', 'Value']], 'order, repeats and case survive');
    });

    it('X-Request-Id: a sane one is passed on and returned; without one, the same generated id goes upstream and back', async (t) => {
      const echo = await echoHeaders(t);
      const { url } = await startBalancer(t, engine, [echo.url]);
      const given = await get(url, { headers: { 'x-request-id': 'abc-123' } });
      assert.deepEqual(values(pairs((JSON.parse(given.body) as { rawHeaders: string[] }).rawHeaders), 'x-request-id'), ['abc-123']);
      assert.equal(given.headers['x-request-id'], 'abc-123');
      const made = await get(url);
      const upstream = values(pairs((JSON.parse(made.body) as { rawHeaders: string[] }).rawHeaders), 'x-request-id');
      assert.equal(upstream.length, 1);
      assert.match(upstream[0]!, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.equal(made.headers['x-request-id'], upstream[0]);
      const insane = await get(url, { headers: { 'x-request-id': 'two words' } });
      assert.notEqual(insane.headers['x-request-id'], 'two words', 'an id with a space is replaced');
    });

    it('response head: status kept (with its standard reason), hop-by-hop headers and those Connection names go, repeated Set-Cookie, order and case kept, body intact', async (t) => {
      const raw = await startRawBackend((req) => {
        req.socket.write([
          'HTTP/1.1 201 Made Here',
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
          '', '5', 'hello', '6', ' world', '0', '', ''].join('\r\n'));
      });
      t.after(() => raw.close());
      const { port } = await startBalancer(t, engine, [raw.url]);
      const client = await RawClient.connect(port);
      t.after(() => client.close());
      client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      const [response] = await client.responses(1);
      assert.equal(response!.status, 201);
      // Both engines write the status line themselves: the backend's own reason phrase does not pass.
      assert.match(client.received.toString('latin1'), /^HTTP\/1\.1 201 Created\r\n/);
      const names = response!.headers.map(([n]) => n);
      assert.deepEqual(names.filter((n) => /^(x-first|set-cookie|x-case-kept)$/i.test(n)), ['X-First', 'Set-Cookie', 'Set-Cookie', 'X-Case-Kept']);
      assert.deepEqual(values(response!.headers, 'set-cookie'), ['a=1; Path=/', 'b=2; HttpOnly']);
      for (const hop of ['x-internal', 'proxy-connection', 'trailer', 'upgrade']) assert.deepEqual(values(response!.headers, hop), [], `${hop} is not forwarded`);
      assert.ok(!values(response!.headers, 'keep-alive').includes('timeout=99'), 'the backend\'s Keep-Alive is not forwarded');
      assert.equal(response!.body.toString(), 'hello world');
    });
  });
}
