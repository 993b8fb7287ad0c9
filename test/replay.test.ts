// @engine-independent: the replay of an access log through the simulator
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBackends } from './helpers/backend.js';
import { get } from './helpers/http.js';
import { startInProcess } from './helpers/in-process-lb.js';

const SIMULATE = fileURLToPath(new URL('../bench/simulate.js', import.meta.url));

interface Replayed {
  requests: number;
  backends: string[];
  concurrency: Record<string, number>;
  results: { strategy: string; p50: number; p99: number; maxQueue: number; share: number[] }[];
}

/**
 * The wiring only: a log the balancer wrote is read by `npm run simulate -- --replay`, replayed
 * through the strategies named, charted and tabled. That peak-EWMA beats round robin on a log
 * with a slow backend depends on the latencies logged, which a busy machine blurs: it is shown on
 * a written trace in replay-strategies.test.ts.
 */
test('npm run simulate -- --replay: a log the balancer wrote is replayed through the strategies, with a table and an SVG chart', async (t) => {
  const backends = await startBackends(t, undefined, ['fast', 'slow']);
  const lb = await startInProcess({ BACKENDS: backends.map((b) => b.url).join(','), STRATEGY: 'round-robin' }, t);
  // Four clients at a time, 80 requests: round robin gives each backend half of them.
  for (let round = 0; round < 20; round++) await Promise.all([0, 1, 2, 3].map((i) => get(`${lb.url}/item/${round * 4 + i}`)));
  await lb.stop();
  const dir = mkdtempSync(join(tmpdir(), 'lb-replay-'));
  const log = join(dir, 'access.log');
  writeFileSync(log, lb.logs.map((line) => `${JSON.stringify(line)}\n`).join(''));
  const svg = join(dir, 'replay.svg');

  const out = JSON.parse(execFileSync(process.execPath, [SIMULATE, '--replay', log, '--strategies', 'round-robin,peak-ewma,consistent-hash', '--key', 'path', '--chart', svg, '--json'], { encoding: 'utf8' })) as Replayed;
  assert.equal(out.requests, 80);
  assert.deepEqual([...out.backends].sort(), backends.map((b) => `127.0.0.1:${b.port}`).sort());
  assert.deepEqual(out.results.map((r) => r.strategy), ['round-robin', 'peak-ewma', 'consistent-hash']);
  const [rr, ewma, hash] = out.results;
  assert.deepEqual(rr!.share, [0.5, 0.5]);
  for (const r of [ewma!, hash!]) assert.equal(r.share.reduce((a, b) => a + b, 0), 1, r.strategy);
  // Deterministic: the same log gives the same figures.
  const again = JSON.parse(execFileSync(process.execPath, [SIMULATE, '--replay', log, '--strategies', 'round-robin,peak-ewma,consistent-hash', '--key', 'path', '--json'], { encoding: 'utf8' })) as Replayed;
  assert.deepEqual(again.results, out.results);
  const picture = readFileSync(svg, 'utf8');
  assert.match(picture, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.match(picture, /peak-ewma/);
  const table = execFileSync(process.execPath, [SIMULATE, '--replay', log, '--strategies', 'round-robin,peak-ewma'], { encoding: 'utf8' });
  assert.match(table, /^Replay of .*: 80 requests over 2 backends/);
  assert.match(table, /^round-robin\s+[\d.]+\s+[\d.]+\s+\d+\s+50\.0% 50\.0%$/m);
});
