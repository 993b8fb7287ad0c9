import { test } from 'node:test';
import assert from 'node:assert/strict';
import { downstreamResponseHeaders, h2RequestHeaders, h2ResponseHeaders, relayedTrailers, trailerLines, trailersEndConnection, isHeader, downstreamResponseLines, upstreamRequestHeaders, upstreamRequestLines, type ForwardingCache, type RequestHeaderInfo, type ResponseHeadInfo } from './headers.js';

const fwd = ['203.0.113.7', 'http', 'req-1'] as const;

function pairs(list: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < list.length; i += 2) out.push([list[i]!, list[i + 1]!]);
  return out;
}

test('drops hop-by-hop headers and those named in Connection, keeps the rest in order', () => {
  const info: RequestHeaderInfo = { host: undefined, hasBody: false };
  const out = upstreamRequestHeaders([
    'Host', 'example.com:8080',
    'Connection', 'keep-alive, X-Secret, Upgrade',
    'X-Secret', 'hidden',
    'Keep-Alive', 'timeout=5',
    'Proxy-Connection', 'keep-alive',
    'TE', 'trailers',
    'Trailer', 'Expires',
    'Upgrade', 'websocket',
    'Accept', 'text/html',
    'Cookie', 'a=1',
    'cookie', 'b=2',
  ], ...fwd, info);
  // Several Cookie fields become one, as RFC 6265 section 5.4 wants for HTTP/1.1.
  assert.deepEqual(pairs(out).slice(0, 3), [['Host', 'example.com:8080'], ['Accept', 'text/html'], ['Cookie', 'a=1; b=2']]);
  assert.equal(info.host, 'example.com:8080');
  assert.equal(info.hasBody, false);
});

test('appends to X-Forwarded-For and Forwarded, sets the others', () => {
  const info: RequestHeaderInfo = { host: undefined, hasBody: false };
  const out = pairs(upstreamRequestHeaders([
    'host', 'app.test',
    'X-Forwarded-For', '198.51.100.1',
    'x-forwarded-for', '198.51.100.2',
    'Forwarded', 'for=198.51.100.1',
    'X-Forwarded-Proto', 'https',
    'X-Request-Id', 'client-sent',
    'Content-Length', '5',
  ], ...fwd, info));
  const get = (n: string) => out.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
  assert.deepEqual(get('x-forwarded-for'), ['198.51.100.1, 198.51.100.2, 203.0.113.7']);
  assert.deepEqual(get('x-forwarded-proto'), ['http']);
  assert.deepEqual(get('x-forwarded-host'), ['app.test']);
  assert.deepEqual(get('forwarded'), ['for=198.51.100.1, for=203.0.113.7;host="app.test";proto=http']);
  assert.deepEqual(get('x-request-id'), ['req-1']);
  assert.deepEqual(get('content-length'), ['5']);
  assert.equal(info.hasBody, true);
});

test('quotes IPv6 clients in Forwarded and drops Transfer-Encoding but notes the body', () => {
  const info: RequestHeaderInfo = { host: undefined, hasBody: false };
  const out = pairs(upstreamRequestHeaders(['Transfer-Encoding', 'chunked', 'Expect', '100-continue'], '::1', 'http', 'req-1', info));
  assert.equal(info.hasBody, true);
  assert.deepEqual(out.find(([k]) => k === 'forwarded'), ['forwarded', 'for="[::1]";proto=http']);
  assert.equal(out.some(([k]) => /transfer-encoding|expect/i.test(k)), false);
});

test('response: drops hop-by-hop and Connection-named headers, keeps repeated Set-Cookie and order', () => {
  const raw = ['Set-Cookie', 'a=1', 'Connection', 'close, X-Internal', 'X-Internal', 'x', 'Transfer-Encoding', 'chunked',
    'Content-Type', 'text/plain', 'set-cookie', 'b=2', 'Keep-Alive', 'timeout=5', 'Caf\u00e9', 'cr\u00e8me', 'X-Request-Id', 'theirs'].map((s) => Buffer.from(s, 'latin1'));
  assert.deepEqual(downstreamResponseHeaders(raw, 'ours'),
    ['Set-Cookie', 'a=1', 'Content-Type', 'text/plain', 'set-cookie', 'b=2', 'Caf\u00e9', 'cr\u00e8me', 'x-request-id', 'ours']);
});

test('HTTP/2 pseudo-headers: :authority becomes Host, the others are dropped', () => {
  const info: RequestHeaderInfo = { host: undefined, hasBody: false };
  const out = pairs(upstreamRequestHeaders([':method', 'GET', ':scheme', 'https', ':authority', 'h2.test', ':path', '/', 'cookie', 'a=1', 'cookie', 'b=2'], ...fwd, info));
  assert.deepEqual(out.slice(0, 2), [['host', 'h2.test'], ['cookie', 'a=1; b=2']]);
  assert.equal(info.host, 'h2.test');
  assert.ok(!out.some(([k]) => k.startsWith(':')));
});

/** Raw headers as undici hands them over: slices of the one chunk the head arrived in. */
function slicesOfOneChunk(head: string): Buffer[] {
  const chunk = Buffer.from(`HTTP/1.1 200 OK\r\n${head}\r\n`, 'latin1');
  const out: Buffer[] = [];
  let at = chunk.indexOf('\r\n') + 2;
  while (at < chunk.length - 2) {
    const colon = chunk.indexOf(':', at);
    const eol = chunk.indexOf('\r\n', colon);
    out.push(chunk.subarray(at, colon), chunk.subarray(colon + 2, eol));
    at = eol + 2;
  }
  return out;
}

test('response: slices of one chunk decode as separate buffers do, latin1 bytes included', () => {
  const head = 'Server: nginx\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nSet-Cookie: a=1\r\nX-Request-Id: theirs\r\nSet-Cookie: b=\xe9\r\nContent-Type: text/plain\r\nTE: trailers\r\nETag: "x"\r\n';
  const sliced = slicesOfOneChunk(head);
  const separate = sliced.map((b) => Buffer.from(b)); // each its own memory: decoded one by one
  const want = ['Server', 'nginx', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=\xe9', 'Content-Type', 'text/plain', 'ETag', '"x"', 'x-request-id', 'ours'];
  assert.deepEqual(downstreamResponseHeaders(sliced, 'ours'), want);
  assert.deepEqual(downstreamResponseHeaders(separate, 'ours'), want);
  // Out of order or mixed memory: decoded one by one, same answer.
  const mixed = [...sliced.slice(0, 4), ...separate.slice(4)];
  assert.deepEqual(downstreamResponseHeaders(mixed, 'ours'), want);
});

test('the fast engine\'s header lines say what the header list says; forwarding lines are reused per connection only while they would be the same', () => {
  const asLines = (list: string[]): string => pairs(list).map(([n, v]) => `${n}: ${v}\r\n`).join('');
  const cache: ForwardingCache = { forwardingHost: undefined, forwardingLines: '' };
  const requests: [string[], string, boolean][] = [
    [['Host', 'a.test', 'Accept', '*/*'], 'id-1', false],
    [['Host', 'a.test', 'Accept', 'text/html'], 'id-2', false],
    // Its own X-Forwarded-For and Forwarded: appended to, never taken from nor put in the cache.
    [['Host', 'a.test', 'X-Forwarded-For', '198.51.100.9', 'Forwarded', 'for=198.51.100.9'], 'id-3', false],
    [['Host', 'b.test'], 'id-4', false],
    [['Accept', '*/*'], 'id-5', false],
    [['Host', 'b.test', 'Connection', 'Upgrade', 'Upgrade', 'websocket'], 'id-6', true],
    [['Host', 'b.test'], 'id-7', false],
  ];
  for (const [raw, id, upgrade] of requests) {
    const listInfo: RequestHeaderInfo = { host: undefined, hasBody: false };
    const linesInfo: RequestHeaderInfo = { host: undefined, hasBody: false };
    const list = upstreamRequestHeaders(raw, '203.0.113.7', 'http', id, listInfo, upgrade);
    assert.equal(upstreamRequestLines(raw, '203.0.113.7', 'http', id, linesInfo, upgrade, cache), asLines(list), `request ${id}`);
    assert.deepEqual(linesInfo, listInfo);
  }
  assert.equal(cache.forwardingHost, 'b.test');
});

test('the fast engine\'s response lines say what the response header list says, and whether Date and Content-Length came', () => {
  const cases: [string[], boolean, boolean][] = [
    [['Content-Type', 'text/plain', 'Content-Length', '6', 'Date', 'Tue, 01 Dec 2026 05:00:56 GMT', 'Connection', 'keep-alive', 'Keep-Alive', 'timeout=5'], true, true],
    [['X-Request-Id', 'theirs', 'Transfer-Encoding', 'chunked', 'TE', 'x', 'Trailer', 'y', 'Upgrade', 'z', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2'], false, false],
    // Names listed in Connection go too, Date among them.
    [['Connection', 'close, X-Private, date', 'X-Private', 'p', 'date', 'Tue, 01 Dec 2026 05:00:56 GMT', 'content-length', '2', 'ETag', '"e"'], false, true],
    [[], false, false],
  ];
  for (const [raw, date, length] of cases) {
    const info: ResponseHeadInfo = { date: !date, length: !length };
    const lines = downstreamResponseLines(raw, 'ours', info);
    assert.equal(lines, pairs(downstreamResponseHeaders(raw, 'ours')).map(([n, v]) => `${n}: ${v}\r\n`).join(''), raw.join(','));
    assert.deepEqual(info, { date, length }, raw.join(','));
  }
});

test('isHeader matches a name in any ASCII case, and nothing else of the same length', () => {
  assert.equal(isHeader('Content-Length', 'content-length'), true);
  assert.equal(isHeader('CONTENT-LENGTH', 'content-length'), true);
  assert.equal(isHeader('content-length', 'content-length'), true);
  assert.equal(isHeader('Content-Lengths', 'content-length'), false);
  assert.equal(isHeader('Content_Length', 'content-length'), false);
  // Characters 0x20 apart that are not letters: CR and '-', '@' and '`', '[' and '{'.
  assert.equal(isHeader('content\rlength', 'content-length'), false);
  assert.equal(isHeader('@', '`'), false);
  assert.equal(isHeader('[', '{'), false);
});

test('downstreamResponseLines drops hop-by-hop headers and the backend\'s request id whatever their case, and notes Date and Content-Length', () => {
  const info: ResponseHeadInfo = { date: false, length: false };
  const lines = downstreamResponseLines(['CONNECTION', 'keep-alive', 'Keep-ALIVE', 'timeout=5', 'TE', 'trailers', 'Trailer', 'x', 'X-Request-ID', 'theirs',
    'Proxy-Connection', 'close', 'Content-Type', 'text/plain', 'DATE', 'Tue, 01 Dec 2026 10:00:00 GMT', 'CONTENT-LENGTH', '2'], 'ours', info);
  assert.equal(lines, 'Content-Type: text/plain\r\nDATE: Tue, 01 Dec 2026 10:00:00 GMT\r\nCONTENT-LENGTH: 2\r\nx-request-id: ours\r\n');
  assert.deepEqual(info, { date: true, length: true });
});

test('h2RequestHeaders: pseudo-headers from the request, Host as :authority, lowercase names, connection-specific headers dropped, te only as trailers', () => {
  const info = { host: undefined, hasBody: false };
  const out = h2RequestHeaders(['Host', 'example.test', 'Connection', 'keep-alive, X-Hop', 'X-Hop', '1', 'TE', 'trailers', 'Transfer-Encoding', 'chunked',
    'Cookie', 'a=1', 'Cookie', 'b=2', 'Accept', 'text/html', 'Accept', 'text/plain', 'Upgrade', 'h2c', 'Keep-Alive', 'timeout=5'],
  '10.0.0.9', 'http', 'rid', info, 'POST', '/x?y=1', 'http', '127.0.0.1:9');
  assert.deepEqual([out[':method'], out[':path'], out[':scheme'], out[':authority']], ['POST', '/x?y=1', 'http', 'example.test']);
  for (const gone of ['host', 'connection', 'x-hop', 'transfer-encoding', 'upgrade', 'keep-alive', 'Accept']) assert.equal(out[gone], undefined, gone);
  assert.equal(out.te, 'trailers');
  assert.equal(out.cookie, 'a=1; b=2', 'cookies joined into one field (RFC 9113 section 8.2.3 allows it)');
  assert.deepEqual(out.accept, ['text/html', 'text/plain'], 'a repeated header stays repeated');
  assert.equal(out['x-request-id'], 'rid');
  assert.equal(info.hasBody, true);
  const bare = h2RequestHeaders(['TE', 'gzip'], '10.0.0.9', 'http', 'rid', { host: undefined, hasBody: false }, 'GET', '/', 'https', '127.0.0.1:9');
  assert.equal(bare[':authority'], '127.0.0.1:9', 'no Host: the backend\'s authority');
  assert.equal(bare.te, undefined, 'te other than trailers is dropped');
});

test('h2ResponseHeaders drops pseudo-headers and hop-by-hop ones and sets our request id; relayedTrailers keeps only what may trail', () => {
  const list = h2ResponseHeaders({ ':status': 200, 'content-type': 'application/grpc', 'set-cookie': ['a=1', 'b=2'], 'x-request-id': 'theirs', 'grpc-status': '0' }, 'ours', new Set(['grpc-status']));
  assert.deepEqual(list, ['content-type', 'application/grpc', 'set-cookie', 'a=1', 'set-cookie', 'b=2', 'x-request-id', 'ours']);
  assert.deepEqual(relayedTrailers({ 'grpc-status': '0', 'grpc-message': 'ok', connection: 'close', 'content-length': '1', ':status': 200 }), { 'grpc-status': '0', 'grpc-message': 'ok' });
});

test('h2RequestHeaders holds what upstreamRequestHeaders sends, forwarding headers included, call after call', () => {
  const raw = ['Host', 'example.test', 'X-Forwarded-For', '10.1.1.1', 'Forwarded', 'for=10.1.1.1', 'Connection', 'x-hop', 'X-Hop', '1', 'Cookie', 'a=1', 'Cookie', 'b=2', 'Accept', 'a', 'Accept', 'b', 'X-Request-Id', 'theirs'];
  for (let round = 0; round < 2; round++) {
    const h1Info = { host: undefined, hasBody: false };
    const expected: Record<string, string | string[]> = {};
    const list = upstreamRequestHeaders(raw, '10.0.0.9', 'https', 'rid', h1Info);
    for (let i = 0; i < list.length; i += 2) {
      const name = list[i]!.toLowerCase();
      if (name === 'host') continue;
      const had = expected[name];
      expected[name] = had === undefined ? list[i + 1]! : [...[had].flat(), list[i + 1]!];
    }
    const info = { host: undefined, hasBody: false };
    const out = h2RequestHeaders(raw, '10.0.0.9', 'https', 'rid', info, 'GET', '/', 'http', '127.0.0.1:9');
    const fields: Record<string, unknown> = {};
    for (const name in out) if (!name.startsWith(':')) fields[name] = out[name];
    assert.deepEqual(fields, expected);
    assert.deepEqual(info, h1Info);
  }
  const bare = h2RequestHeaders([], '::1', 'http', 'r2', { host: undefined, hasBody: false }, 'GET', '/', 'http', '127.0.0.1:9');
  assert.deepEqual(Object.keys(bare).filter((n) => !n.startsWith(':')), ['x-forwarded-for', 'x-forwarded-proto', 'forwarded', 'x-request-id'], 'nothing left over from the call before');
});

test('h2ResponseHeaders drops what downstreamResponseHeaders drops, a Connection field and the names it lists included', () => {
  const headers = { ':status': 200, connection: 'x-gone', 'x-gone': '1', 'keep-alive': 'timeout=5', 'x-kept': ['1', '2'], 'x-request-id': 'theirs', 'content-length': 3 };
  const flat = ['connection', 'x-gone', 'x-gone', '1', 'keep-alive', 'timeout=5', 'x-kept', '1', 'x-kept', '2', 'x-request-id', 'theirs', 'content-length', '3'];
  assert.deepEqual(h2ResponseHeaders(headers, 'ours'), downstreamResponseHeaders(flat, 'ours'));
  assert.deepEqual(h2ResponseHeaders(headers, 'ours'), ['x-kept', '1', 'x-kept', '2', 'content-length', '3', 'x-request-id', 'ours']);
  const { connection: _c, ...plain } = headers;
  assert.deepEqual(h2ResponseHeaders(plain, 'ours'), ['x-gone', '1', 'x-kept', '1', 'x-kept', '2', 'content-length', '3', 'x-request-id', 'ours']);
});

test('trailerLines keeps what relayedTrailers keeps, as HTTP/1.1 trailer lines in their order and case', () => {
  const raw = ['X-Checksum', 'c1', 'Host', 'evil', 'Content-Length', '1', 'Connection', 'close', 'Keep-Alive', 'timeout=1', 'Trailer', 'X-Two',
    'TE', 'trailers', 'Transfer-Encoding', 'chunked', 'Upgrade', 'h2c', 'Proxy-Connection', 'close', 'x-two', '2', 'X-Two', '3'];
  assert.equal(trailerLines(raw), 'X-Checksum: c1\r\nx-two: 2\r\nX-Two: 3\r\n');
  const byName: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) byName[raw[i]!.toLowerCase()] = raw[i + 1]!;
  assert.deepEqual(Object.keys(relayedTrailers(byName)), ['x-checksum', 'x-two'], 'the same fields as relayedTrailers');
  assert.equal(trailerLines(['Host', 'evil']), '', 'none goes on');
  assert.equal(trailersEndConnection(raw), true);
  assert.equal(trailersEndConnection([Buffer.from('CONNECTION'), Buffer.from('close')]), true, 'undici\'s latin1 bytes too');
  assert.equal(trailersEndConnection(['X-Checksum', 'c1']), false);
});
