import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import pino from 'pino';
import { ContextResponse, RequestContext } from '../context/index.js';
import { Backend, parseBackendText } from '../pool/index.js';
import { ACCESS_FIELDS, compileAccessFormat, escapeValue, UnknownAccessField } from './access-format.js';

/**
 * nginx's `log_format combined` as a parser reads it (the regex log tools such as GoAccess and
 * Logstash's COMBINEDAPACHELOG use, field for field):
 * `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`.
 */
const COMBINED = /^(?<remote_addr>\S+) - (?<remote_user>\S+) \[(?<time_local>\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] "(?<request>(?:[^"\\]|\\.)*)" (?<status>\d{3}) (?<body_bytes_sent>\d+) "(?<http_referer>(?:[^"\\]|\\.)*)" "(?<http_user_agent>(?:[^"\\]|\\.)*)"$/;
/** The common log format: combined without its last two fields. */
const COMMON = /^(?<remote_addr>\S+) - (?<remote_user>\S+) \[(?<time_local>[^\]]+)\] "(?<request>(?:[^"\\]|\\.)*)" (?<status>\d{3}) (?<body_bytes_sent>\d+)$/;

const log = pino({ enabled: false });

function context(options: { path?: string; headers?: Record<string, string>; status?: number; major?: number; minor?: number } = {}): RequestContext {
  const req = {
    socket: { remoteAddress: '::ffff:192.0.2.7' }, method: 'GET', url: options.path ?? '/index.html?q=1',
    headers: options.headers ?? {}, httpVersionMajor: options.major ?? 1, httpVersionMinor: options.minor ?? 1,
  } as unknown as IncomingMessage;
  const ctx = new RequestContext(req, new ContextResponse(req), log, 'http');
  ctx.id = 'req-7';
  ctx.bytes = 1234;
  ctx.res.statusCode = options.status ?? 200;
  ctx.backend = new Backend(parseBackendText('http://127.0.0.1:9000|id=api-1'));
  return ctx;
}

/** `07/Dec/2026:21:40:05 +0100` back to a time, to check it names now. */
function parseTimeLocal(text: string): number {
  const m = /^(\d{2})\/([A-Z][a-z]{2})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/.exec(text)!;
  const month = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'].indexOf(m[2]!);
  const offset = (m[7] === '-' ? -1 : 1) * (Number(m[8]) * 60 + Number(m[9]));
  return Date.UTC(Number(m[3]), month, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6])) - offset * 60_000;
}

test('combined: nginx\'s combined format, field for field, as its parser reads it', () => {
  const before = Math.floor(Date.now() / 1000) * 1000;
  const line = compileAccessFormat('combined').line(context({ headers: { referer: 'https://example.com/from', 'user-agent': 'curl/8.5.0', authorization: `Basic ${Buffer.from('alice:secret').toString('base64')}` } }));
  const fields = COMBINED.exec(line)?.groups;
  assert.ok(fields !== undefined, line);
  assert.deepEqual({ ...fields, time_local: undefined }, {
    remote_addr: '192.0.2.7', remote_user: 'alice', time_local: undefined, request: 'GET /index.html?q=1 HTTP/1.1', status: '200',
    body_bytes_sent: '1234', http_referer: 'https://example.com/from', http_user_agent: 'curl/8.5.0',
  });
  const time = parseTimeLocal(fields.time_local!);
  assert.ok(time >= before && time <= Date.now(), `${fields.time_local} is now`);
});

test('combined: missing values are "-", HTTP/1.0 and HTTP/2 are named as nginx names them, quotes and non-ASCII are escaped as \\xHH', () => {
  const bare = COMBINED.exec(compileAccessFormat('combined').line(context({ major: 1, minor: 0, status: 404 })))?.groups;
  assert.equal(bare?.remote_user, '-');
  assert.equal(bare?.http_referer, '-');
  assert.equal(bare?.http_user_agent, '-');
  assert.equal(bare?.request, 'GET /index.html?q=1 HTTP/1.0');
  assert.equal(bare?.status, '404');
  assert.equal(COMBINED.exec(compileAccessFormat('combined').line(context({ major: 2 })))?.groups?.request, 'GET /index.html?q=1 HTTP/2.0');
  const odd = compileAccessFormat('combined').line(context({ path: '/caf\u00e9"x', headers: { 'user-agent': 'a "quoted" \\ agent\u0001' } }));
  const fields = COMBINED.exec(odd)?.groups;
  assert.ok(fields !== undefined, odd);
  assert.equal(fields.request, 'GET /caf\\xC3\\xA9\\x22x HTTP/1.1');
  assert.equal(fields.http_user_agent, 'a \\x22quoted\\x22 \\x5C agent\\x01');
  assert.equal(escapeValue(''), '-');
});

test('common: nginx\'s and Apache\'s common log format', () => {
  const fields = COMMON.exec(compileAccessFormat('common').line(context({ status: 502 })))?.groups;
  assert.deepEqual({ ...fields, time_local: undefined }, {
    remote_addr: '192.0.2.7', remote_user: '-', time_local: undefined, request: 'GET /index.html?q=1 HTTP/1.1', status: '502', body_bytes_sent: '1234',
  });
});

test('a template: its fields in place, everything else as written; trace and span ids when set, "-" when not', () => {
  const format = compileAccessFormat('{client} {method} {path} {status} {duration_ms} {backend} trace={trace_id} span={span_id} id={request_id}');
  assert.equal(format.name, 'template');
  const ctx = context();
  ctx.endTime = ctx.startTime + 12.5;
  assert.equal(format.line(ctx), '192.0.2.7 GET /index.html?q=1 200 12.5 api-1 trace=- span=- id=req-7');
  ctx.traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  ctx.spanId = '00f067aa0ba902b7';
  assert.equal(format.line(ctx), '192.0.2.7 GET /index.html?q=1 200 12.5 api-1 trace=4bf92f3577b34da6a3ce929d0e0e4736 span=00f067aa0ba902b7 id=req-7');
});

test('every field a template may name gives a value without a space-less gap or "undefined"', () => {
  const ctx = context();
  for (const field of ACCESS_FIELDS) {
    const value = compileAccessFormat(`{${field}}`).line(ctx);
    assert.ok(value !== '' && !value.includes('undefined'), `${field}: ${value}`);
  }
});

test('an unknown field name is refused when the template is compiled, naming it', () => {
  assert.throws(() => compileAccessFormat('{client} {colour} {status}'), (err: unknown) => {
    assert.ok(err instanceof UnknownAccessField);
    assert.equal(err.code, 'LB_ERR_ACCESS_FIELD');
    assert.equal(err.field, 'colour');
    assert.match(err.message, /unknown access-log field \{colour\}; known: \{client\}/);
    return true;
  });
  // Inherited names of a plain object are not fields.
  assert.throws(() => compileAccessFormat('{constructor}'), UnknownAccessField);
});
