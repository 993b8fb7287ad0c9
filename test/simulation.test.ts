// @engine-independent: an in-process simulation of the strategies; no balancer process, no engine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DEFAULT_SIMULATION, SIMULATED, simulate } from '../bench/simulation.js';
import { DOC_BEGIN, DOC_END, docTable, withTable } from '../bench/simulation-table.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const options = { ...DEFAULT_SIMULATION, requests: 30_000 };
const byName = (label: string) => simulate(SIMULATED.find((s) => s.label === label)!, options);

test('the simulation is deterministic', () => {
  assert.deepEqual(byName('power-of-two-choices'), byName('power-of-two-choices'));
});

test('with one backend 10× slower, peak-EWMA and power-of-two-choices beat round robin\'s p99', () => {
  const rr = byName('round-robin');
  const p2c = byName('power-of-two-choices');
  const ewma = byName('peak-ewma');
  assert.ok(p2c.p99 < rr.p99, `p2c ${p2c.p99} vs rr ${rr.p99}`);
  assert.ok(ewma.p99 < rr.p99, `ewma ${ewma.p99} vs rr ${rr.p99}`);
  assert.ok(ewma.share[4]! < 0.05 && p2c.share[4]! < 0.05, 'the slow backend gets little traffic');
  assert.ok(Math.abs(rr.share[4]! - 0.2) < 0.001, 'round robin gives it a full fifth');
});

test('docs/strategies.md shows the table npm run simulate prints', () => {
  const out = execFileSync(process.execPath, [fileURLToPath(new URL('../bench/simulate.js', import.meta.url))], { encoding: 'utf8' });
  const table = out.slice(out.indexOf('strategy '));
  assert.match(table, /^consistent-hash c=1\.25 /m);
  assert.equal(docTable(readFileSync(`${ROOT}docs/strategies.md`, 'utf8')), table, 'run: npm run simulate -- --update-doc docs/strategies.md');
});

test('the doc\'s table is rewritten between its markers, the rest kept', () => {
  const doc = `before\n${DOC_BEGIN}\n\`\`\`\nold\n\`\`\`\n${DOC_END}\nafter\n`;
  const updated = withTable(doc, 'new\n');
  assert.equal(updated, `before\n${DOC_BEGIN}\n\`\`\`\nnew\n\`\`\`\n${DOC_END}\nafter\n`);
  assert.equal(docTable(updated), 'new\n');
  assert.throws(() => withTable('no markers', 'x'), /has no/);
});
