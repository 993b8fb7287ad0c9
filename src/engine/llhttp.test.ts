import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BODY, NO_BODY, Parser, RAW, REQUEST, RESPONSE, selfTest, type HeadResult, type ParserEvents } from './llhttp.js';

function recorder(skipBody = false): { events: ParserEvents; seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    events: {
      onHead: (minor, headers, method, url, status, text, upgrade, keepAlive) => {
        seen.push(`${method}${url}${status || ''}${text} 1.${minor} ${headers.join(',')}${upgrade ? ' upgrade' : ''}${keepAlive ? ' keep-alive' : ''}`);
        return skipBody ? NO_BODY : BODY;
      },
      onBody: (chunk) => seen.push(`body ${chunk.toString('latin1')}`),
      onMessageEnd: (trailers) => seen.push(trailers === undefined ? 'end' : `end ${trailers.join(',')}`),
    },
  };
}

test('the parser behaves as the fast engine expects on this Node.js (the start-up self-test)', () => {
  assert.equal(selfTest(), undefined);
});

test('a head split over reads, and one of more than 32 headers, come out whole', () => {
  const { events, seen } = recorder();
  const parser = new Parser(REQUEST, 16 * 1024, events);
  let text = 'GET /long?q=1 HTTP/1.1\r\nHost: a\r\n';
  for (let i = 0; i < 50; i++) text += `X-${i}: ${i}\r\n`;
  text += '\r\n';
  const bytes = Buffer.from(text, 'latin1');
  for (let at = 0; at < bytes.length; at += 7) assert.equal(parser.execute(bytes.subarray(at, at + 7)), Math.min(7, bytes.length - at));
  assert.equal(seen.length, 2);
  assert.match(seen[0]!, /^GET\/long\?q=1 1\.1 Host,a,X-0,0,.*X-49,49 keep-alive$/);
  parser.close();
});

test('an Upgrade stops the parser at the end of its head; the rest is the tunnel\'s', () => {
  const { events, seen } = recorder();
  const parser = new Parser(REQUEST, 16 * 1024, events);
  const head = 'GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n';
  assert.equal(parser.execute(Buffer.from(`${head}\x81\x00`, 'latin1')), head.length);
  assert.match(seen[0]!, /upgrade/);
  parser.close();
});

test('request smuggling vectors and oversized heads are refused with llhttp\'s codes', () => {
  const cases: [string, string][] = [
    ['POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n', 'HPE_INVALID_TRANSFER_ENCODING'],
    ['POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nz\r\n', 'HPE_INVALID_CHUNK_SIZE'],
    ['GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    [`GET /${'a'.repeat(2000)} HTTP/1.1\r\n\r\n`, 'HPE_HEADER_OVERFLOW'],
  ];
  for (const [text, code] of cases) {
    const parser = new Parser(REQUEST, 1024, recorder().events);
    const result = parser.execute(Buffer.from(text, 'latin1'));
    assert.ok(typeof result !== 'number', text);
    assert.equal(result.code, code, text);
    parser.close();
  }
});

test('responses: a HEAD answer skips its body when told; a close-delimited body ends with finish()', () => {
  const head = recorder(true);
  const parser = new Parser(RESPONSE, 16 * 1024, head.events);
  const text = 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n';
  assert.equal(parser.execute(Buffer.from(text, 'latin1')), text.length);
  assert.deepEqual(head.seen, ['200OK 1.1 Content-Length,10 keep-alive', 'end', '204No Content 1.1  keep-alive', 'end']);
  parser.close();
  const closing = recorder();
  const until = new Parser(RESPONSE, 16 * 1024, closing.events);
  until.execute(Buffer.from('HTTP/1.1 200 OK\r\n\r\nabc', 'latin1'));
  assert.deepEqual(closing.seen, ['200OK 1.1 ', 'body abc']);
  assert.equal(until.finish(), undefined);
  assert.deepEqual(closing.seen.at(-1), 'end');
  until.close();
});

test('each request ends once, in order, whether its end is llhttp\'s or the parser\'s own (no body declared), split anywhere', () => {
  const text = [
    'GET /1 HTTP/1.1\r\nHost: a\r\n\r\n',
    'POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n',
    'GET /3 HTTP/1.1\r\nHost: a\r\n\r\n',
    'POST /4 HTTP/1.1\r\nHost: a\r\ncontent-length: 3\r\n\r\nabc',
    'DELETE /5 HTTP/1.1\r\nHost: a\r\n\r\n',
    'PUT /6 HTTP/1.1\r\nHost: a\r\nTRANSFER-ENCODING: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n',
    'GET /7 HTTP/1.0\r\n\r\n',
  ].join('');
  const expected = ['GET/1', 'end', 'POST/2', 'end', 'GET/3', 'end', 'POST/4', 'body abc', 'end', 'DELETE/5', 'end', 'PUT/6', 'body x', 'end', 'GET/7', 'end'];
  const bytes = Buffer.from(text, 'latin1');
  for (const step of [bytes.length, 1, 5, 13]) {
    const { events, seen } = recorder();
    const parser = new Parser(REQUEST, 16 * 1024, events);
    for (let at = 0; at < bytes.length; at += step) assert.equal(parser.execute(bytes.subarray(at, at + step)), Math.min(step, bytes.length - at));
    parser.close();
    // A body split over reads comes in as many pieces: joined again here.
    const got: string[] = [];
    for (const e of seen) {
      if (e.startsWith('body ') && got.at(-1)?.startsWith('body ')) got[got.length - 1] += e.slice(5);
      else got.push(e.startsWith('body ') ? e : e.split(' ')[0]!);
    }
    assert.deepEqual(got, expected, `in pieces of ${step}`);
  }
});

test('a response parser told RAW, BODY, RAW in turns reports the chunked bodies\' ends and none of the RAW heads\'', () => {
  const { events, seen } = recorder();
  const turns: HeadResult[] = [RAW, BODY, RAW, BODY];
  const parser = new Parser(RESPONSE, 16 * 1024, { ...events, onHead: (...args) => { events.onHead(...args); return turns.shift() ?? BODY; } });
  const sized = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n';
  const chunked = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n';
  for (const message of [sized, chunked, sized, chunked]) assert.equal(parser.execute(Buffer.from(message === sized ? `${sized}ok` : message, 'latin1')), message.length);
  parser.close();
  assert.deepEqual(seen.filter((e) => !e.startsWith('200')), ['body hi', 'end', 'body hi', 'end']);
});

test('a chunked body\'s trailers come with its end, and never with the next message\'s head (short or in parts), split anywhere', () => {
  let many = '';
  for (let i = 0; i < 40; i++) many += `X-${i}: ${i}\r\n`;
  for (const kind of [REQUEST, RESPONSE] as const) {
    const start = (what: string): string => (kind === REQUEST ? `POST /${what} HTTP/1.1\r\nHost: a\r\n` : `HTTP/1.1 200 ${what}\r\n`);
    const text = `${start('t')}Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nX-Sum: 1\r\nX-Two: 2\r\n\r\n`
      + `${start('short')}Content-Length: 0\r\n\r\n`
      + `${start('c')}Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nX-Again: 3\r\n\r\n`
      + `${start('long')}${many}Content-Length: 0\r\n\r\n`
      + `${start('none')}Transfer-Encoding: chunked\r\n\r\n1\r\ny\r\n0\r\n\r\n`;
    const bytes = Buffer.from(text, 'latin1');
    for (const step of [bytes.length, 1, 7]) {
      const { events, seen } = recorder();
      const parser = new Parser(kind, 16 * 1024, events);
      for (let at = 0; at < bytes.length; at += step) assert.equal(parser.execute(bytes.subarray(at, at + step)), Math.min(step, bytes.length - at));
      parser.close();
      const heads = seen.filter((e) => /^(POST|200)/.test(e));
      const ends = seen.filter((e) => e.startsWith('end'));
      assert.deepEqual(heads.map((h) => h.split(' ')[0]!.replace(/^200/, '')), kind === REQUEST
        ? ['POST/t', 'POST/short', 'POST/c', 'POST/long', 'POST/none'] : ['t', 'short', 'c', 'long', 'none'], `${kind} in pieces of ${step}`);
      assert.ok(!heads.some((h) => /X-Sum|X-Two|X-Again/.test(h)), `no trailer in a head: ${heads.join(' | ')}`);
      assert.equal(heads[3]!.match(/(^|[ ,])X-\d+,/g)?.length, 40);
      assert.deepEqual(ends, ['end X-Sum,1,X-Two,2', 'end', 'end X-Again,3', 'end', 'end'], `${kind} in pieces of ${step}`);
    }
  }
});

test('a released request parser serves the next connection afresh: its state, limit and events are that connection\'s', () => {
  const first = recorder();
  const parser = Parser.forRequest(16 * 1024, first.events);
  // Released in the middle of a head split over reads, and of a body.
  const start = Buffer.from('GET /a HTTP/1.1\r\nHost: a\r\n\r\nPOST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nab', 'latin1');
  assert.equal(parser.execute(start), start.length);
  parser.execute(Buffer.from('c', 'latin1'));
  assert.deepEqual(first.seen, ['GET/a 1.1 Host,a keep-alive', 'end', 'POST/b 1.1 Host,a,Content-Length,5 keep-alive', 'body ab', 'body c']);
  parser.release();
  assert.equal(parser.closed, true);
  const second = recorder();
  const again = Parser.forRequest(64, second.events);
  assert.equal(again, parser, 'the released parser is the one taken');
  assert.equal(again.closed, false);
  const text = 'GET /c HTTP/1.0\r\nHost: b\r\n\r\n';
  assert.equal(again.execute(Buffer.from(text, 'latin1')), text.length);
  assert.deepEqual(second.seen, ['GET/c 1.0 Host,b', 'end']);
  assert.equal(first.seen.length, 5, 'nothing reaches the first connection\'s events');
  // The new connection's header limit holds (64 bytes here).
  const long = Buffer.from(`GET /d HTTP/1.1\r\nHost: b\r\nX: ${'x'.repeat(100)}\r\n\r\n`, 'latin1');
  const third = Parser.forRequest(64, recorder().events);
  const refused = third.execute(long);
  assert.ok(typeof refused !== 'number' && refused.code === 'HPE_HEADER_OVERFLOW');
  again.release();
  third.close();
  // A closed parser is not kept: the next one taken is another.
  const fourth = Parser.forRequest(16 * 1024, recorder().events);
  assert.notEqual(fourth, third);
  fourth.release();
});
