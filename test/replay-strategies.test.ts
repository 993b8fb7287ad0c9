// @engine-independent: a written access log replayed in the simulator; no balancer, no engine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTrace, replay, type Trace } from '../bench/replay.js';

const FAST = '127.0.0.1:8001';
const SLOW = '127.0.0.1:8002';

/**
 * The access log round robin writes for four clients at a time over a backend answering in 2 ms
 * and one in 40 ms: 20 rounds of four requests, two to each, the next round starting when the
 * slowest of the last has answered. Written, not measured: the figures are the same on any machine.
 */
function roundRobinTrace(): Trace {
  const lines: string[] = [];
  const start = 1_700_000_000_000;
  for (let round = 0; round < 20; round++) {
    const arrival = start + round * 40;
    for (let i = 0; i < 4; i++) {
      const [backend, ms] = i % 2 === 0 ? [FAST, 2] : [SLOW, 40];
      lines.push(JSON.stringify({ level: 30, time: arrival + ms, msg: 'request', method: 'GET', path: `/item/${round * 4 + i}`, status: 200, backend, ms, client: '127.0.0.1' }));
    }
  }
  lines.push(JSON.stringify({ level: 30, time: start + 800, msg: 'stopped' })); // not an access line: skipped
  const log = join(mkdtempSync(join(tmpdir(), 'lb-replay-')), 'access.log');
  writeFileSync(log, `${lines.join('\n')}\n`);
  return readTrace(log);
}

test('a replayed log with a slow backend: peak-EWMA sends it less than round robin does, and its p50 is lower', () => {
  const trace = roundRobinTrace();
  assert.equal(trace.requests.length, 80);
  assert.deepEqual(trace.backends, [FAST, SLOW]);
  assert.deepEqual(Object.fromEntries(trace.concurrency), { [FAST]: 2, [SLOW]: 2 });
  const rr = replay(trace, 'round-robin', 'path');
  const ewma = replay(trace, 'peak-ewma', 'path');
  assert.deepEqual(rr.share, [0.5, 0.5]);
  assert.ok(ewma.share[1]! < 0.5, `peak-ewma sends the slow backend less: ${ewma.share}`);
  assert.ok(ewma.p50 < rr.p50, `peak-ewma p50 ${ewma.p50} < round-robin ${rr.p50}`);
  assert.deepEqual(replay(trace, 'peak-ewma', 'path'), ewma, 'the same trace gives the same figures');
});
