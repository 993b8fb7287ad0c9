import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { LogDestination } from './log-destination.js';

function tempFile(): string {
  return join(mkdtempSync(join(tmpdir(), 'lb-log-')), 'out.log');
}

const line = (i: number): string => `{"n":${i},"pad":"${'x'.repeat(100)}"}\n`;

test('lines are held until the batch is full, then written in order with one write', () => {
  const file = tempFile();
  const dest = new LogDestination(file, { batchBytes: 1024, flushInterval: 60_000 });
  for (let i = 0; i < 5; i++) dest.write(line(i));
  assert.equal(statSync(file).size, 0, 'nothing written below the batch size');
  for (let i = 5; i < 20; i++) dest.write(line(i));
  const written = readFileSync(file, 'utf8');
  assert.ok(written.length >= 1024, 'the full batch was written');
  dest.end();
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { n: number });
  assert.deepEqual(lines.map((l) => l.n), Array.from({ length: 20 }, (_, i) => i));
});

test('a quiet destination is flushed by its timer', async () => {
  const file = tempFile();
  const dest = new LogDestination(file, { batchBytes: 64 * 1024, flushInterval: 20 });
  dest.write('{"msg":"alone"}\n');
  const deadline = Date.now() + 5000;
  while (statSync(file).size === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.equal(readFileSync(file, 'utf8'), '{"msg":"alone"}\n');
  dest.end();
});

test('multi-byte characters are encoded whole', () => {
  const file = tempFile();
  const dest = new LogDestination(file, { batchBytes: 16 });
  const text = '{"path":"/caf\u00e9/\u{1F600}/\u4e2d"}\n';
  for (let i = 0; i < 50; i++) dest.write(text);
  dest.end();
  assert.equal(readFileSync(file, 'utf8'), text.repeat(50));
});

test('pino writes through it, in order with direct writes, and logger.flush writes out', () => {
  const file = tempFile();
  const dest = new LogDestination(file, { batchBytes: 64 * 1024, flushInterval: 60_000 });
  const log = pino({ base: null }, dest);
  log.info('first');
  dest.write('{"msg":"second"}\n');
  log.info('third');
  assert.equal(statSync(file).size, 0);
  log.flush();
  const msgs = readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => (JSON.parse(l) as { msg: string }).msg);
  assert.deepEqual(msgs, ['first', 'second', 'third']);
  dest.end();
});

test('a pipe that stops reading: nothing blocks, memory stays bounded, dropped lines are counted and reported', async () => {
  // The reader takes nothing until told to, then counts what arrives; a line that arrives cut
  // in two fails JSON.parse and is reported.
  const reader = spawn(process.execPath, ['-e', `
    process.once('message', () => {
      let rest = '', lines = 0, broken = 0, report = null;
      process.stdin.setEncoding('utf8');
      process.stdin.on('data', (chunk) => {
        const parts = (rest + chunk).split('\\n');
        rest = parts.pop();
        for (const p of parts) {
          try { const o = JSON.parse(p); if (o.dropped !== undefined) report = o; else lines++; } catch { broken++; }
          if (report !== null) process.send({ lines, broken, report });
        }
      });
    });
  `], { stdio: ['pipe', 'ignore', 'inherit', 'ipc'] });
  try {
    const fd = (reader.stdin as unknown as { _handle: { fd: number } })._handle.fd;
    const dest = new LogDestination(fd, { batchBytes: 8 * 1024, flushInterval: 20, maxBufferedBytes: 64 * 1024, fields: '"pid":1,"worker":3' });
    let accepted = 0;
    let refused = 0;
    let maxPending = 0;
    // Far more than the pipe holds: the socket buffer fills, then our buffer, then lines are dropped.
    for (let i = 0; i < 20_000; i++) {
      if (dest.write(line(i))) accepted++;
      else refused++;
      maxPending = Math.max(maxPending, dest.pending);
    }
    assert.ok(refused > 0, 'lines were dropped once the buffer was full');
    assert.ok(maxPending <= 64 * 1024, `pending ${maxPending} stayed within the cap`);
    assert.equal(dest.dropped, refused);
    const result = once(reader, 'message');
    reader.send('read');
    const [{ lines, broken, report }] = await result as [{ lines: number; broken: number; report: { dropped: number; msg: string; worker: number } }];
    assert.equal(broken, 0, 'every line arrived whole');
    assert.equal(lines, accepted, 'every accepted line arrived');
    assert.equal(report.dropped, refused);
    assert.match(report.msg, /log lines dropped/);
    assert.equal(report.worker, 3, 'the report carries the logger\'s fields (a cluster worker\'s index)');
    dest.end();
  } finally {
    reader.kill();
  }
});

test('an uncaught exception does not lose what is buffered: logger lines and recorded access lines are written on exit', async () => {
  const file = tempFile();
  const logger = new URL('./logger.js', import.meta.url).href;
  const accessLog = new URL('../middleware/access-log.js', import.meta.url).href;
  const child = spawn(process.execPath, ['--input-type=module', '-e', `
    const { createLogging } = await import(${JSON.stringify(logger)});
    const { accessLog } = await import(${JSON.stringify(accessLog)});
    const { log, lines } = createLogging({ level: 'info', format: 'json', destination: ${JSON.stringify(file)} });
    log.info('before the crash');
    const end = accessLog(log, lines).onEnd;
    for (let i = 0; i < 3; i++) {
      end({ id: 'r' + i, req: { httpVersionMajor: 1 }, method: 'GET', path: '/' + i, status: 200, grpcStatus: -1, policy: '', route: '', pool: '', bytes: 6, bytesIn: 0, tries: 1, duration: 1, backend: undefined, clientIp: '127.0.0.1', error: undefined });
    }
    setImmediate(() => { throw new Error('boom'); });
  `], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const [code] = await once(child, 'exit') as [number];
  assert.equal(code, 1);
  assert.match(stderr, /boom/);
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { msg: string; path?: string });
  assert.deepEqual(lines.map((l) => l.path ?? l.msg), ['before the crash', '/0', '/1', '/2']);
});
