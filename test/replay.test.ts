import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBackends } from './helpers/backend.js';
import { get } from './helpers/http.js';
import { startLb } from './helpers/lb.js';

const SIMULATE = fileURLToPath(new URL('../bench/simulate.js', import.meta.url));

interface Replayed {
  requests: number;
  backends: string[];
  concurrency: Record<string, number>;
  results: { strategy: string; p50: number; p99: number; maxQueue: number; share: number[] }[];
}

test('npm run simulate -- --replay: a log the balancer wrote is replayed through the strategies, with a table and an SVG chart', async (t) => {
  const delays: Record<string, number> = { fast: 2, slow: 40 };
  const backends = await startBackends(t, (req, res, backend) => {
    if (req.url === '/health') { res.end(); return; }
    setTimeout(() => res.end(backend.name), delays[backend.name]);
  }, ['fast', 'slow']);
  const lb = await startLb({ BACKENDS: backends.map((b) => b.url).join(','), STRATEGY: 'round-robin' });
  // Four clients at a time, 80 requests: round robin gives the slow backend half of them.
  for (let round = 0; round < 20; round++) await Promise.all([0, 1, 2, 3].map((i) => get(`${lb.url}/item/${round * 4 + i}`)));
  await lb.stop();
  const dir = mkdtempSync(join(tmpdir(), 'lb-replay-'));
  const log = join(dir, 'access.log');
  writeFileSync(log, lb.stdout());
  const svg = join(dir, 'replay.svg');

  const out = JSON.parse(execFileSync(process.execPath, [SIMULATE, '--replay', log, '--strategies', 'round-robin,peak-ewma,consistent-hash', '--key', 'path', '--chart', svg, '--json'], { encoding: 'utf8' })) as Replayed;
  assert.equal(out.requests, 80);
  assert.equal(out.backends.length, 2);
  const [rr, ewma, hash] = out.results;
  assert.deepEqual(rr!.share, [0.5, 0.5]);
  const slow = out.backends.indexOf(`127.0.0.1:${backends[1]!.port}`);
  assert.ok(ewma!.share[slow]! < 0.5, `peak-ewma sends the slow backend less: ${ewma!.share}`);
  assert.ok(ewma!.p50 < rr!.p50, `peak-ewma p50 ${ewma!.p50} < round-robin ${rr!.p50}`);
  assert.equal(hash!.share.reduce((a, b) => a + b, 0), 1);
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
