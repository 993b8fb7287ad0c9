#!/usr/bin/env node
/**
 * The test command (`npm test`): builds, then runs every pass even when an earlier one fails,
 * and ends with a summary of all of them; the exit code is 1 when anything failed.
 *
 *   default  unit tests (dist/src) and integration tests (dist/test) on the default engine (fast)
 *   node     the integration tests again on ENGINE=node (TEST_ENGINE=node, see test/helpers/lb.ts)
 *
 * `node scripts/test.mjs node` runs the named passes only. An integration test file that does not
 * depend on the engine says so in its first lines, and the node pass leaves it out:
 *
 *   // @engine-independent: <why>
 *
 * and one test in an engine-dependent file (a configuration refused at start) takes the options
 * `ENGINE_INDEPENDENT` from test/helpers/lb.ts, which skip it in the node pass.
 *
 * Node's own reporter output is kept as it is (CI reads the closing `# pass N` / `# fail N` of
 * each pass); a second reporter writes TAP to a file from which the summary is counted.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RUNNER = ['--test', '--test-concurrency=3', '--test-timeout=180000'];
const MARKER = /^\/\/ @engine-independent\b/m;

/** Every *.test.js under a folder of the build, sorted. */
function testFiles(dir) {
  const found = [];
  for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...testFiles(path));
    else if (entry.name.endsWith('.test.js')) found.push(path);
  }
  return found.sort();
}

/** Whether the file's header (its leading comment lines) declares it engine-independent. */
function engineIndependent(file) {
  const head = readFileSync(join(ROOT, file), 'utf8').split('\n');
  const header = head.slice(0, head.findIndex((line) => !line.startsWith('//'))).join('\n');
  return MARKER.test(header);
}

const PASSES = {
  default: { title: 'unit and integration tests', env: {}, files: () => [...testFiles('dist/src'), ...testFiles('dist/test')] },
  node: { title: 'the integration tests again, on ENGINE=node', env: { TEST_ENGINE: 'node' }, files: () => testFiles('dist/test').filter((f) => !engineIndependent(f)) },
};

/** The last top-level `# name N` line of a TAP report, or undefined. */
function count(tap, name) {
  const all = [...tap.matchAll(new RegExp(`^# ${name} (\\d+)$`, 'gm'))];
  return all.length === 0 ? undefined : Number(all.at(-1)[1]);
}

// Interrupted: the running pass gets the signal, no further pass starts, the summary still prints.
let current;
let interrupted;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    interrupted = signal;
    current?.kill(signal);
  });
}

/** Runs one pass to its end; resolves with its counts and exit status. */
function run(name, pass, dir) {
  const files = pass.files();
  const tap = join(dir, `${name}.tap`);
  // Node's default reporter where the output goes (spec on a terminal, TAP otherwise, as CI expects
  // on every Node version), and TAP to a file for the summary.
  const reporter = process.stdout.isTTY ? 'spec' : 'tap';
  const args = [...RUNNER, `--test-reporter=${reporter}`, '--test-reporter-destination=stdout', '--test-reporter=tap', `--test-reporter-destination=${tap}`, ...files];
  console.log(`== ${pass.title} (${files.length} ${files.length === 1 ? 'file' : 'files'})`);
  return new Promise((resolve) => {
    current = spawn(process.execPath, args, { cwd: ROOT, stdio: 'inherit', env: { ...process.env, ...pass.env } });
    current.once('close', (code, signal) => {
      current = undefined;
      let report = '';
      try { report = readFileSync(tap, 'utf8'); } catch { /* it never started */ }
      const passed = count(report, 'pass');
      const failed = count(report, 'fail');
      const cancelled = count(report, 'cancelled') ?? 0;
      resolve({ title: pass.title, code, signal, passed: passed ?? 0, failed: (failed ?? 0) + cancelled, cancelled, counted: passed !== undefined && failed !== undefined });
    });
  });
}

const wanted = process.argv.slice(2);
for (const name of wanted) {
  if (!(name in PASSES)) {
    console.error(`unknown pass "${name}"; the passes are: ${Object.keys(PASSES).join(', ')}`);
    process.exit(2);
  }
}

// A stale dist/ gives misleading results: every run builds first.
const build = spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
if (build.status !== 0) {
  console.log(`== the build failed (${build.status ?? build.signal}): no test ran\n0 passed, 0 failed`);
  process.exit(1);
}

const dir = mkdtempSync(join(tmpdir(), 'lb-test-run-'));
const results = [];
try {
  for (const [name, pass] of Object.entries(PASSES)) {
    if (interrupted !== undefined) break;
    if (wanted.length === 0 || wanted.includes(name)) results.push(await run(name, pass, dir));
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

console.log('\n== summary');
let ok = true;
for (const r of results) {
  const status = r.signal !== null ? `killed by ${r.signal}` : `exit ${r.code}`;
  const counts = r.counted ? `${r.passed} passed, ${r.failed} failed${r.cancelled > 0 ? ` (${r.cancelled} cancelled)` : ''}` : 'no summary (the runner did not finish)';
  console.log(`${r.title}: ${counts}, ${status}`);
  if (r.code !== 0 || r.failed > 0 || !r.counted) ok = false;
}
if (interrupted !== undefined) {
  console.log(`interrupted by ${interrupted}: the passes after it did not run`);
  ok = false;
}
const total = (key) => results.reduce((sum, r) => sum + r[key], 0);
console.log(`${total('passed')} passed, ${total('failed')} failed`);
process.exitCode = ok ? 0 : 1;
