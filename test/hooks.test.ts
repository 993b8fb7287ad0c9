// Hooks through the real CLI: HOOKS_MODULE loaded at start-up, every phase on a real request, a
// failing hook's answer, log line and metric, and a module that cannot be loaded (exit 2).
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startBackend } from './helpers/backend.js';
import { get } from './helpers/http.js';
import { ENGINE_INDEPENDENT, runLb, startLb } from './helpers/lb.js';

const MODULE = `
export default ({ log }) => ({
  name: 'smoke',
  onRequest(ctx) {
    if (ctx.request.url === '/ping') return ctx.respond(200, 'pong\\n');
    if (ctx.request.url === '/broken') throw new Error('smoke hook broke');
    ctx.state.started = 'yes';
    ctx.request.headers.set('x-from-hook', 'request');
  },
  async selectBackend(ctx, candidates) {
    await Promise.resolve();
    return candidates[0];
  },
  onUpstreamRequest(ctx, head) { head.headers.set('x-upstream', String(ctx.state.started)); },
  onResponse(ctx, head) { head.headers.set('x-hooked', head.status + ':' + ctx.pool); },
  onLog(ctx, line) { line.hook = ctx.state.started ?? 'none'; },
});
`;

test('HOOKS_MODULE: every phase on a real request through the lb command; a failing hook is a 500, logged and in /metrics', async (t) => {
  const backend = await startBackend('a', (req, res) => {
    req.resume();
    res.end(`${String(req.headers['x-from-hook'])}/${String(req.headers['x-upstream'])}`);
  });
  t.after(() => backend.close());
  const dir = mkdtempSync(join(tmpdir(), 'lb-hooks-cli-'));
  writeFileSync(join(dir, 'smoke.mjs'), MODULE);
  const lb = await startLb({ BACKENDS: backend.url, HOOKS_MODULE: './smoke.mjs', ADMIN_PORT: '0' }, { cwd: dir });
  t.after(() => lb.stop());
  const effect = await lb.waitForLog((l) => l.msg === 'hooks in effect');
  assert.deepEqual((effect.hooks as { global: string[] }).global, ['smoke']);
  const res = await get(`${lb.url}/x`);
  assert.deepEqual([res.status, res.body, res.headers['x-hooked']], [200, 'request/yes', '200:default']);
  const line = await lb.waitForLog((l) => l.msg === 'request' && l.path === '/x');
  assert.equal(line.hook, 'yes');
  const ping = await get(`${lb.url}/ping`);
  assert.deepEqual([ping.status, ping.body], [200, 'pong\n']);
  assert.deepEqual(backend.requests.filter((r) => r.url !== '/').map((r) => r.url), ['/x'], 'the ping never reached the backend (/ is the health check)');
  const broken = await get(`${lb.url}/broken`);
  assert.equal(broken.status, 500);
  const failure = await lb.waitForLog((l) => l.code === 'LB_ERR_HOOK_FAILED');
  assert.deepEqual([failure.hook, failure.phase, failure.err], ['smoke', 'onRequest', 'smoke hook broke']);
  const admin = await lb.waitForLog((l) => l.msg === 'admin listening');
  const metrics = await get(`http://127.0.0.1:${String(admin.port)}/metrics`);
  assert.match(metrics.body, /lb_hook_errors_total\{hook="smoke",phase="onRequest"\} 1/);
});

test('a hook module that cannot be loaded, or has no phase, is a configuration error (exit 2), at start and with --check', ENGINE_INDEPENDENT, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lb-hooks-cli-'));
  writeFileSync(join(dir, 'empty.mjs'), 'export const nothing = 1;\n');
  const missing = await runLb({ BACKENDS: 'http://127.0.0.1:1', HOOKS_MODULE: './missing.mjs' }, [], dir);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /hook module "\.\/missing\.mjs": cannot load it/);
  const empty = await runLb({ BACKENDS: 'http://127.0.0.1:1', HOOKS_MODULE: './empty.mjs' }, ['--check'], dir);
  assert.equal(empty.code, 2);
  assert.match(empty.stderr, /hook module "\.\/empty\.mjs": expected a default export/);
});

test('a config file names hooks globally (hooks:) and per route (relative to its folder); --check loads them all', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lb-hooks-cli-'));
  writeFileSync(join(dir, 'global.mjs'), 'export function onRequest() {}\n');
  writeFileSync(join(dir, 'route.mjs'), 'export default { onLog() {} };\n');
  writeFileSync(join(dir, 'lb.yaml'), [
    'backends: [http://127.0.0.1:1]',
    'hooks: [./global.mjs]',
    'routes:',
    '  - name: api',
    '    matches: [{ path: { type: PathPrefix, value: /api } }]',
    '    backendRefs: [{ name: default }]',
    '    hooks: [./route.mjs]',
    '',
  ].join('\n'));
  const ok = await runLb({}, ['--config', join(dir, 'lb.yaml'), '--check'], dir);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /configuration OK/);
  writeFileSync(join(dir, 'lb.yaml'), ['backends: [http://127.0.0.1:1]', 'routes:', '  - name: api', '    backendRefs: [{ name: default }]', '    hooks: [./gone.mjs]', ''].join('\n'));
  const gone = await runLb({}, ['--config', join(dir, 'lb.yaml'), '--check'], dir);
  assert.equal(gone.code, 2);
  assert.match(gone.stderr, new RegExp(`hook module "${join(dir, 'gone.mjs').replaceAll('/', '\\/')}": cannot load it`));
});
