import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { ContextResponse, RequestContext } from '../context/index.js';
import { Backend, parseBackendText } from '../pool/index.js';
import { LogDestination } from '../app/log-destination.js';
import { accessLog } from './access-log.js';

function capture(): { stream: Writable; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } });
  return { stream, lines };
}

function context(path: string, log: pino.Logger): RequestContext {
  const req = { socket: { remoteAddress: '::ffff:10.0.0.9' }, method: 'POST', url: path, headers: {} } as unknown as IncomingMessage;
  const ctx = new RequestContext(req, new ContextResponse(req), log, 'http');
  ctx.id = 'req-1';
  ctx.bytes = 42;
  ctx.backend = new Backend(parseBackendText('http://127.0.0.1:9000'));
  return ctx;
}

test('the direct JSON line is the line pino would have written', () => {
  for (const path of ['/plain?a=1', '/quote"and\\\\backslash', '/caf\u00e9\u0001']) {
    const direct = capture();
    const viaPino = capture();
    const fastLog = pino({ base: { pid: 1, hostname: 'h' } }, direct.stream);
    const slowLog = pino({ base: { pid: 1, hostname: 'h' } }, viaPino.stream);
    accessLog(fastLog, { destination: direct.stream, bindings: ',"pid":1,"hostname":"h"' }).onEnd!(context(path, fastLog));
    accessLog(slowLog).onEnd!(context(path, slowLog));
    const a = JSON.parse(direct.lines[0]!) as Record<string, unknown>;
    const b = JSON.parse(viaPino.lines[0]!) as Record<string, unknown>;
    delete a.time; delete b.time; delete a.ms; delete b.ms;
    assert.deepEqual(a, b);
    assert.deepEqual(Object.keys(a), Object.keys(b), 'same field order');
    assert.equal(a.path, path);
    assert.equal(a.client, '10.0.0.9');
  }
});

test('through the log destination, ASCII and non-ASCII paths come out as pino writes them', () => {
  const paths = ['/plain?a=1', '/quote"and\\backslash', '/caf\u00e9\u0001', '/\u{1F600}'];
  const file = join(mkdtempSync(join(tmpdir(), 'lb-access-')), 'access.log');
  const dest = new LogDestination(file);
  const fastLog = pino({ base: { pid: 1, hostname: 'h' } }, dest);
  for (const path of paths) accessLog(fastLog, { destination: dest, bindings: ',"pid":1,"hostname":"h"' }).onEnd!(context(path, fastLog));
  dest.end();
  const viaPino = capture();
  const slowLog = pino({ base: { pid: 1, hostname: 'h' } }, viaPino.stream);
  for (const path of paths) accessLog(slowLog).onEnd!(context(path, slowLog));
  const written = readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(written.length, paths.length);
  written.forEach((line, i) => {
    const expected = JSON.parse(viaPino.lines[i]!) as Record<string, unknown>;
    for (const o of [line, expected]) { delete o.time; delete o.ms; }
    assert.deepEqual(line, expected);
    assert.equal(line.path, paths[i]);
  });
});

test('numbers, errors and strings that need escaping come out byte for byte as pino writes them', () => {
  const cases: Array<{ duration: number; bytes: number; bytesIn?: number; tries?: number; status?: number; id?: string; error?: string }> = [
    { duration: 0, bytes: 0 },
    { duration: 0.0004, bytes: 9 },
    { duration: 0.0005, bytes: 10 },
    { duration: 0.05, bytes: 99 },
    { duration: 0.1234, bytes: 100, status: 502, error: 'upstream_refused' },
    { duration: 1, bytes: 4_294_967_296 },
    { duration: 1.5, bytes: Number.MAX_SAFE_INTEGER },
    { duration: 12.3456, bytes: 1234567, status: 499 },
    { duration: 3.25, bytes: 42, bytesIn: 1_048_576, status: 101 },
    { duration: 7.5, bytes: 6, tries: 3, status: 502, error: 'LB_ERR_UPSTREAM_CONNECT' },
    { duration: 999.9999, bytes: 6, id: 'caf\u00e9"\\\u0007' },
    { duration: 123456.7891, bytes: 6, error: 'odd"code' },
  ];
  const file = join(mkdtempSync(join(tmpdir(), 'lb-access-')), 'access.log');
  const dest = new LogDestination(file);
  const fastLog = pino({ base: { pid: 1, hostname: 'h\u00e9' } }, dest);
  const viaPino = capture();
  const slowLog = pino({ base: { pid: 1, hostname: 'h\u00e9' } }, viaPino.stream);
  const fast = accessLog(fastLog, { destination: dest, bindings: ',"pid":1,"hostname":"h\u00e9"' });
  const slow = accessLog(slowLog);
  for (const c of cases) {
    for (const [mw, log] of [[fast, fastLog], [slow, slowLog]] as const) {
      const ctx = context('/p', log);
      Object.defineProperty(ctx, 'duration', { value: c.duration });
      ctx.bytes = c.bytes;
      if (c.bytesIn !== undefined) ctx.bytesIn = c.bytesIn;
      if (c.tries !== undefined) ctx.tries = c.tries;
      if (c.id !== undefined) ctx.id = c.id;
      if (c.status !== undefined) ctx.res.statusCode = c.status;
      if (c.error !== undefined) ctx.error = { code: c.error, status: c.status ?? 502, message: 'x' };
      mw.onEnd!(ctx);
    }
  }
  dest.end();
  const withoutTime = (line: string): string => line.replace(/"time":\d+,/, '');
  const written = readFileSync(file, 'utf8').split('\n').slice(0, -1);
  assert.equal(written.length, cases.length);
  written.forEach((line, i) => {
    assert.equal(withoutTime(line), withoutTime(viaPino.lines[i]!.trimEnd()), `case ${i}`);
  });
});

test('recorded lines keep their order with the logger\'s other lines, and a quiet balancer\'s are out within the flush interval', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'lb-access-')), 'access.log');
  const dest = new LogDestination(file, { batchBytes: 64 * 1024, flushInterval: 20 });
  const log = pino({ base: undefined }, dest);
  const mw = accessLog(log, { destination: dest, bindings: '' });
  // More than one formatting batch, with other lines in between.
  const sequence: string[] = [];
  for (let i = 0; i < 150; i++) {
    mw.onEnd!(context(`/r${i}`, log));
    sequence.push(`/r${i}`);
    if (i % 40 === 7) {
      log.warn(`between ${i}`);
      sequence.push(`between ${i}`);
    }
  }
  const deadline = Date.now() + 5000;
  const lines = (): string[] => readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
  while (lines().length < sequence.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  const written = lines().map((l) => JSON.parse(l) as { msg: string; path?: string });
  assert.deepEqual(written.map((l) => l.path ?? l.msg), sequence);
  dest.end();
});

test('route and pool: named for a routed request or another pool, left out for the default pool without a route; the same in every writer', () => {
  const cases: [string, string, Record<string, string>][] = [['', 'default', {}], ['api-v1', 'api', { route: 'api-v1', pool: 'api' }],
    ['web', 'default', { route: 'web', pool: 'default' }], ['', 'api', { pool: 'api' }], ['api "β"\\', 'api', { route: 'api "β"\\', pool: 'api' }]];
  const file = join(mkdtempSync(join(tmpdir(), 'lb-access-')), 'access.log');
  const dest = new LogDestination(file);
  const binaryLog = pino({ base: { pid: 1, hostname: 'h' } }, dest);
  const direct = capture();
  const viaPino = capture();
  const stringLog = pino({ base: { pid: 1, hostname: 'h' } }, direct.stream);
  const slowLog = pino({ base: { pid: 1, hostname: 'h' } }, viaPino.stream);
  for (const [route, pool] of cases) {
    for (const [log, sink] of [[binaryLog, { destination: dest, bindings: ',"pid":1,"hostname":"h"' }], [stringLog, { destination: direct.stream, bindings: ',"pid":1,"hostname":"h"' }], [slowLog, undefined]] as const) {
      const ctx = context('/x', log);
      ctx.route = route;
      ctx.pool = pool;
      accessLog(log, sink).onEnd!(ctx);
    }
  }
  dest.end();
  const binary = readFileSync(file, 'utf8').trimEnd().split('\n');
  for (const lines of [binary, direct.lines, viaPino.lines]) {
    assert.equal(lines.length, cases.length);
    lines.forEach((text, i) => {
      const line = JSON.parse(text) as Record<string, unknown>;
      assert.deepEqual({ route: line.route, pool: line.pool }, { route: cases[i]![2].route, pool: cases[i]![2].pool }, text);
    });
  }
  // Field order is pino's: after backend, before client.
  assert.deepEqual(Object.keys(JSON.parse(binary[1]!) as object), Object.keys(JSON.parse(viaPino.lines[1]!) as object));
});

test('grpcStatus: written after the status for a gRPC call (the backend\'s or the balancer\'s), left out otherwise; the same in every writer', () => {
  const cases = [-1, 0, 4, 14, 16, 17];
  const file = join(mkdtempSync(join(tmpdir(), 'lb-access-')), 'access.log');
  const dest = new LogDestination(file);
  const binaryLog = pino({ base: { pid: 1, hostname: 'h' } }, dest);
  const direct = capture();
  const viaPino = capture();
  const stringLog = pino({ base: { pid: 1, hostname: 'h' } }, direct.stream);
  const slowLog = pino({ base: { pid: 1, hostname: 'h' } }, viaPino.stream);
  for (const code of cases) {
    for (const [log, sink] of [[binaryLog, { destination: dest, bindings: ',"pid":1,"hostname":"h"' }], [stringLog, { destination: direct.stream, bindings: ',"pid":1,"hostname":"h"' }], [slowLog, undefined]] as const) {
      const ctx = context('/lbtest.Echo/Unary', log);
      ctx.grpcStatus = code;
      accessLog(log, sink).onEnd!(ctx);
    }
  }
  dest.end();
  const binary = readFileSync(file, 'utf8').trimEnd().split('\n');
  const withoutTime = (line: string): string => line.trimEnd().replace(/"time":\d+,/, '').replace(/"ms":[\d.]+,/, '');
  for (const lines of [binary, direct.lines]) {
    assert.equal(lines.length, cases.length);
    lines.forEach((text, i) => assert.equal(withoutTime(text), withoutTime(viaPino.lines[i]!), `case ${cases[i]}`));
  }
  viaPino.lines.forEach((text, i) => {
    const line = JSON.parse(text) as Record<string, unknown>;
    assert.equal(line.grpcStatus, cases[i]! >= 0 ? cases[i] : undefined);
    if (cases[i]! >= 0) assert.deepEqual(Object.keys(line).slice(Object.keys(line).indexOf('status'), Object.keys(line).indexOf('status') + 2), ['status', 'grpcStatus']);
  });
});

test('protocol: "HTTP/2" for an HTTP/2 request, left out for HTTP/1.x; the same in every writer, in pino\'s field order', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'lb-access-')), 'access.log');
  const dest = new LogDestination(file);
  const binaryLog = pino({ base: { pid: 1, hostname: 'h' } }, dest);
  const direct = capture();
  const viaPino = capture();
  const stringLog = pino({ base: { pid: 1, hostname: 'h' } }, direct.stream);
  const slowLog = pino({ base: { pid: 1, hostname: 'h' } }, viaPino.stream);
  for (const major of [1, 2]) {
    for (const [log, sink] of [[binaryLog, { destination: dest, bindings: ',"pid":1,"hostname":"h"' }], [stringLog, { destination: direct.stream, bindings: ',"pid":1,"hostname":"h"' }], [slowLog, undefined]] as const) {
      const ctx = context('/x', log);
      (ctx.req as { httpVersionMajor: number }).httpVersionMajor = major;
      ctx.tries = 2;
      accessLog(log, sink).onEnd!(ctx);
    }
  }
  dest.end();
  const binary = readFileSync(file, 'utf8').trimEnd().split('\n');
  for (const lines of [binary, direct.lines, viaPino.lines]) {
    assert.deepEqual(lines.map((text) => (JSON.parse(text) as Record<string, unknown>).protocol), [undefined, 'HTTP/2']);
    assert.deepEqual(Object.keys(JSON.parse(lines[1]!) as object), Object.keys(JSON.parse(viaPino.lines[1]!) as object));
  }
});

test('trace_id and span_id: written last (before msg) when tracing set them, left out otherwise; the same in every writer', () => {
  const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
  const span = '00f067aa0ba902b7';
  const file = join(mkdtempSync(join(tmpdir(), 'lb-access-')), 'access.log');
  const dest = new LogDestination(file);
  const binaryLog = pino({ base: { pid: 1, hostname: 'h' } }, dest);
  const direct = capture();
  const viaPino = capture();
  const stringLog = pino({ base: { pid: 1, hostname: 'h' } }, direct.stream);
  const slowLog = pino({ base: { pid: 1, hostname: 'h' } }, viaPino.stream);
  for (const traced of [true, false]) {
    for (const [log, sink] of [[binaryLog, { destination: dest, bindings: ',"pid":1,"hostname":"h"' }], [stringLog, { destination: direct.stream, bindings: ',"pid":1,"hostname":"h"' }], [slowLog, undefined]] as const) {
      const ctx = context('/x', log);
      if (traced) {
        ctx.traceId = trace;
        ctx.spanId = span;
      }
      accessLog(log, sink).onEnd!(ctx);
    }
  }
  dest.end();
  const binary = readFileSync(file, 'utf8').trimEnd().split('\n');
  for (const lines of [binary, direct.lines, viaPino.lines]) {
    assert.equal(lines.length, 2);
    const [withIds, without] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(withIds!.trace_id, trace);
    assert.equal(withIds!.span_id, span);
    assert.deepEqual(Object.keys(withIds!).slice(-3), ['trace_id', 'span_id', 'msg']);
    assert.equal('trace_id' in without!, false);
    assert.equal('span_id' in without!, false);
  }
  assert.deepEqual(Object.keys(JSON.parse(binary[0]!) as object), Object.keys(JSON.parse(viaPino.lines[0]!) as object));
});

/** mulberry32: a small seeded generator, so a sampled count is the same on every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('ACCESS_LOG_SAMPLE: the share of 2xx and 3xx lines written, drawn from the random source; every 1xx, 4xx and 5xx line is written', () => {
  const lines = capture();
  const log = pino({ base: { pid: 1, hostname: 'h' } }, lines.stream);
  let draws = 0;
  const random = seeded(42);
  const middleware = accessLog(log, { destination: lines.stream, bindings: ',"pid":1,"hostname":"h"' }, { sample: 0.1, random: () => { draws++; return random(); } });
  const statuses = [200, 204, 301, 304, 101, 404, 429, 500, 502, 503];
  const sent = new Map<number, number>();
  for (let i = 0; i < 2000; i++) {
    const status = statuses[i % statuses.length]!;
    const ctx = context('/s', log);
    ctx.res.statusCode = status;
    ctx.tunnel = status === 101;
    middleware.onEnd!(ctx);
  }
  for (const text of lines.lines) {
    const status = (JSON.parse(text) as { status: number }).status;
    sent.set(status, (sent.get(status) ?? 0) + 1);
  }
  for (const status of [101, 404, 429, 500, 502, 503]) assert.equal(sent.get(status), 200, `every ${status} line`);
  assert.equal(draws, 800, 'one draw per 2xx or 3xx request, none for the others');
  // The same seed draws the same numbers: the count of kept lines is exact.
  const check = seeded(42);
  let expected = 0;
  for (let i = 0; i < 800; i++) if (check() < 0.1) expected++;
  const kept = [200, 204, 301, 304].reduce((n, s) => n + (sent.get(s) ?? 0), 0);
  assert.equal(kept, expected);
  assert.ok(kept > 40 && kept < 120, `about a tenth of 800: ${kept}`);
});

test('ACCESS_LOG_SAMPLE 0 keeps no 2xx line and never draws; 1 keeps every line and never draws', () => {
  for (const sample of [0, 1]) {
    const lines = capture();
    const log = pino({ base: { pid: 1, hostname: 'h' } }, lines.stream);
    let draws = 0;
    const middleware = accessLog(log, { destination: lines.stream, bindings: '' }, { sample, random: () => { draws++; return 0.5; } });
    for (const status of [200, 500]) {
      const ctx = context('/s', log);
      ctx.res.statusCode = status;
      middleware.onEnd!(ctx);
    }
    assert.deepEqual(lines.lines.map((l) => (JSON.parse(l) as { status: number }).status), sample === 0 ? [500] : [200, 500]);
    assert.equal(draws, sample === 0 ? 1 : 0);
  }
});

test('a text format goes to the log\'s own destination, in order with its JSON lines; without one, as the message of a log record', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'lb-access-')), 'access.log');
  const dest = new LogDestination(file);
  const log = pino({ base: { pid: 1, hostname: 'h' } }, dest);
  const middleware = accessLog(log, { destination: dest, bindings: ',"pid":1,"hostname":"h"' }, { format: '{method} {path} {status} {backend}' });
  log.info('before');
  middleware.onEnd!(context('/one', log));
  log.info('after');
  dest.end();
  const written = readFileSync(file, 'utf8').trimEnd().split('\n');
  assert.equal(written.length, 3);
  assert.equal((JSON.parse(written[0]!) as { msg: string }).msg, 'before');
  assert.equal(written[1], 'POST /one 200 127.0.0.1:9000');
  assert.equal((JSON.parse(written[2]!) as { msg: string }).msg, 'after');

  const viaPino = capture();
  const pretty = pino({ base: {} }, viaPino.stream);
  accessLog(pretty, undefined, { format: 'common' }).onEnd!(context('/two', pretty));
  assert.match((JSON.parse(viaPino.lines[0]!) as { msg: string }).msg, /^10\.0\.0\.9 - - \[[^\]]+\] "POST \/two HTTP\/1\.1" 200 42$/);
});
