import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseErrorStatus, versionProblem } from '../http1/index.js';
import { Parser, REQUEST, type NativeParseError, type ParserEvents } from './llhttp.js';

const events: ParserEvents = { onHead: () => 0, onBody: () => undefined, onMessageEnd: () => undefined };

/** What llhttp says of `bytes`: the status a listener answers, or 'parsed' and the head's version. */
function verdict(bytes: string): number | string {
  const parser = new Parser(REQUEST, 16 * 1024, events);
  const packet = Buffer.from(bytes, 'latin1');
  const result = parser.execute(packet);
  parser.close();
  if (typeof result === 'number') return `parsed ${parser.versionMajor}`;
  return parseErrorStatus(Object.assign(result as NativeParseError, { rawPacket: packet }));
}

test('a version llhttp refuses gets 505 when it is digit.digit, else 400', () => {
  assert.equal(verdict('GET / HTTP/1.2\r\nHost: a\r\n\r\n'), 505);
  assert.equal(verdict('GET / HTTP/3.0\r\nHost: a\r\n\r\n'), 505);
  assert.equal(verdict('GET / HTTP/1.x\r\nHost: a\r\n\r\n'), 400);
  assert.equal(verdict('GET / HTTP/12.0\r\nHost: a\r\n\r\n'), 400);
  assert.equal(verdict('GET / HTTP/1.1 \r\nHost: a\r\n\r\n'), 400);
});

test('versions llhttp parses: 1.0 and 1.1 pass, 2.0 and 0.9 are refused by versionProblem', () => {
  assert.equal(verdict('GET / HTTP/2.0\r\nHost: a\r\n\r\n'), 'parsed 2');
  assert.equal(verdict('GET / HTTP/0.9\r\nHost: a\r\n\r\n'), 'parsed 0');
  assert.equal(versionProblem(1, 1), undefined);
  assert.equal(versionProblem(1, 0), undefined);
  assert.match(versionProblem(2, 0)!, /HTTP\/2\.0/);
  assert.match(versionProblem(0, 9)!, /HTTP\/0\.9/);
});

test('a head over the limit: 414 in the request line, 431 in the headers', () => {
  assert.equal(verdict(`GET /${'a'.repeat(17 * 1024)} HTTP/1.1\r\n`), 414);
  assert.equal(verdict(`GET / HTTP/1.1\r\nHost: a\r\nX: ${'a'.repeat(17 * 1024)}\r\n\r\n`), 431);
  assert.equal(parseErrorStatus({ code: 'ERR_HTTP_REQUEST_TIMEOUT' }), 408);
  assert.equal(parseErrorStatus({ code: 'HPE_INVALID_METHOD' }), 400);
});
