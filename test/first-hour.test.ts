// @engine-independent: messages, warnings and the admin API's answers, whatever engine carries traffic
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminApi, type ApiResponse } from './helpers/admin-api.js';
import { get } from './helpers/http.js';
import { startBackends } from './helpers/backend.js';
import { runLb, startLb, type RunningLb } from './helpers/lb.js';

const TOKEN = 'first-hour-token-0123';

function dirWith(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'lb-first-hour-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

function api(base: string, method: string, path: string, body?: unknown): Promise<ApiResponse> {
  return adminApi(base, method, path, body, { authorization: `Bearer ${TOKEN}` });
}

async function startWithAdmin(env: Record<string, string>): Promise<RunningLb & { admin: string }> {
  const lb = await startLb({ ADMIN_PORT: '0', ADMIN_TOKEN: TOKEN, HEALTH_CHECK_PATH: '/health', ...env });
  const line = await lb.waitForLog((l) => l.msg === 'admin listening');
  return Object.assign(lb, { admin: `http://127.0.0.1:${line.port as number}` });
}

/** Answers per backend name over `n` sequential requests. */
async function spread(url: string, n: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const res = await get(url);
    counts[res.body] = (counts[res.body] ?? 0) + 1;
  }
  return counts;
}

test('round robin honours weights from BACKENDS and from a PATCH through the admin API', async (t) => {
  const [a, b] = await startBackends(t, undefined, ['a', 'b']);
  const lb = await startWithAdmin({ BACKENDS: `${a!.url}|id=a|weight=3,${b!.url}|id=b`, STRATEGY: 'round-robin' });
  t.after(() => lb.stop());
  await lb.waitForLog((l) => l.msg === 'backend is up' && lb.logs.filter((x) => x.msg === 'backend is up').length === 2);
  assert.deepEqual(await spread(lb.url, 40), { a: 30, b: 10 });
  const patched = await api(lb.admin, 'PATCH', '/api/backends/b', { weight: 5 });
  assert.equal(patched.status, 200);
  assert.equal(patched.body.warnings, undefined, 'round robin uses weights: nothing to warn of');
  assert.deepEqual(await spread(lb.url, 80), { a: 30, b: 50 });
});

test('weights with a strategy that ignores them: a warning at start, in --check and in the admin API\'s answer', async (t) => {
  const [a, b] = await startBackends(t, undefined, ['a', 'b']);
  const check = await runLb({ BACKENDS: `${a!.url}|weight=5,${b!.url}`, STRATEGY: 'consistent-hash' }, ['--check']);
  assert.equal(check.code, 0);
  assert.match(check.stderr, /^lb: warning: weights do nothing with STRATEGY=consistent-hash .*\(weighted: http:\/\/127\.0\.0\.1:\d+\)$/m);
  for (const strategy of ['round-robin', 'random']) {
    const quiet = await runLb({ BACKENDS: `${a!.url}|weight=5,${b!.url}`, STRATEGY: strategy }, ['--check']);
    assert.equal(quiet.stderr, '', `${strategy} uses weights`);
  }
  const lb = await startWithAdmin({ BACKENDS: `${a!.url}|id=a,${b!.url}|id=b`, STRATEGY: 'consistent-hash' });
  t.after(() => lb.stop());
  const patched = await api(lb.admin, 'PATCH', '/api/backends/b', { weight: 5 });
  assert.equal(patched.status, 200);
  assert.match(patched.body.warnings?.[0] ?? '', /^weights do nothing with STRATEGY=consistent-hash/);
});

test('secrets are never printed: ADMIN_TOKEN, STICKY_SECRET and URL passwords in errors, --check, logs and /api/config', async (t) => {
  for (const [env, args, secret] of [
    [{ ADMIN_TOKEN: 'short' }, [], 'short'],
    [{ STICKY_SECRET: 'tiny-secret' }, [], 'tiny-secret'],
    [{}, ['--admin-token', 'flagtok'], 'flagtok'],
    [{ BACKENDS: 'http://127.0.0.1:1,http://user:hunter2pass@127.0.0.1:2' }, ['--check'], 'hunter2pass'],
  ] as [Record<string, string>, string[], string][]) {
    const run = await runLb(env, args);
    assert.equal(run.code, 2, JSON.stringify(env));
    assert.ok(!run.stderr.includes(secret), `${secret} in ${run.stderr}`);
    assert.match(run.stderr, /\[redacted\]/);
  }
  const yaml = await runLb({}, ['--config', 'lb.yaml'], dirWith({ 'lb.yaml': 'admin:\n  token: yaml-short\n' }));
  assert.equal(yaml.code, 2);
  assert.match(yaml.stderr, /^lb: invalid admin\.token in lb\.yaml \[redacted\] \(10 characters\): expected a secret of at least 16 characters\n$/);

  const [a] = await startBackends(t, undefined, ['a']);
  const lb = await startWithAdmin({ BACKENDS: a!.url, STICKY_COOKIE: 'lb', STICKY_SECRET: 'sticky-secret-0123456789' });
  t.after(() => lb.stop());
  const config = await api(lb.admin, 'GET', '/api/config');
  assert.ok(!config.text.includes(TOKEN) && !config.text.includes('sticky-secret-0123456789'), config.text);
  const added = await api(lb.admin, 'POST', '/api/backends', { url: 'http://bob:pa55word@127.0.0.1:9' });
  assert.equal(added.status, 400);
  assert.ok(!added.text.includes('pa55word'), added.text);
  assert.match(added.body.error.message, /^invalid url "http:\/\/bob:\[redacted\]@127\.0\.0\.1:9": expected/);
  assert.ok(!lb.stdout().includes(TOKEN) && !lb.stdout().includes('sticky-secret-0123456789') && !lb.stdout().includes('pa55word'), 'logs');
});

test('CLI wording: an unknown flag gets the one meant, a missing or broken config file says which and where', async () => {
  const flag = await runLb({}, ['--backend', 'http://127.0.0.1:1']);
  assert.equal(flag.code, 2);
  assert.equal(flag.stderr, "lb: Unknown option '--backend': did you mean --backends? (see lb --help)\n");

  const dir = dirWith({ 'lb.yaml': 'port: 8080\nproxy:\n  timeout: 5s\n bad: 1\n' });
  const missing = await runLb({}, ['--config', 'missing.yaml'], dir);
  assert.equal(missing.code, 2);
  assert.equal(missing.stderr, `lb: cannot read config file missing.yaml (${join(dir, 'missing.yaml')}): no such file (ENOENT); expected a YAML or JSON file of settings (--config FILE)\n`);

  const broken = await runLb({}, ['--config', 'lb.yaml'], dir);
  assert.equal(broken.code, 2);
  assert.equal(broken.stderr, 'lb: config file lb.yaml is not valid YAML: All mapping items must start at the same column at line 4, column 1 (" bad: 1")\n');
});

test('CLI wording: HASH_KEY alone is warned about alone; --help is grouped by section and documents |id=NAME', async () => {
  const check = await runLb({ BACKENDS: 'http://127.0.0.1:1', HASH_KEY: 'path' }, ['--check']);
  assert.equal(check.code, 0);
  assert.equal(check.stderr, 'lb: warning: HASH_KEY does nothing with STRATEGY=round-robin (only with consistent-hash)\n');
  const help = await runLb({}, ['--help']);
  const sections = help.stdout.split('\n').filter((l) => /^[A-Z][A-Za-z ,]+:$/.test(l));
  assert.deepEqual(sections, ['Options:', 'Listening:', 'Backends:', 'Balancing:', 'Health checks:', 'Timeouts, retries and overload:', 'Client limits:', 'At the edge:', 'Operations:', 'Tracing:']);
  assert.match(help.stdout, /Backends:\n {2}--backends VALUE[^\n]*\n[^\n]*"\|id=NAME"/);
  assert.match(help.stdout, /Health checks:\n(?: [^\n]*\n)*? {2}--health-check-path VALUE/);
});

test('admin API wording: a bad weight names the field, the value and what is expected', async (t) => {
  const [a] = await startBackends(t, undefined, ['a']);
  const lb = await startWithAdmin({ BACKENDS: `${a!.url}|id=a` });
  t.after(() => lb.stop());
  for (const weight of [-1, 0, 2.5, 'heavy']) {
    const res = await api(lb.admin, 'PATCH', '/api/backends/a', { weight });
    assert.equal(res.status, 400);
    assert.equal(res.body.error.message, `invalid weight ${JSON.stringify(weight)}: expected an integer from 1 to 1000000`);
  }
  const post = await api(lb.admin, 'POST', '/api/backends', { url: 'http://127.0.0.1:9', weight: -1 });
  assert.equal(post.body.error.message, 'invalid weight -1: expected an integer from 1 to 1000000');
});

test('STRICT_ENV=true starts beside other programs\' variables (SSL_CERT_FILE, NODE_*, npm_*, OTEL_*, proxies, locale, CI) and says nothing of them', async () => {
  const env = {
    BACKENDS: 'http://127.0.0.1:1', STRICT_ENV: 'true', SSL_CERT_FILE: '/etc/ssl/certs/ca-certificates.crt', SSL_CERT_DIR: '/etc/ssl/certs', NODE_ENV: 'production',
    npm_config_cache: '/tmp/npm', OTEL_SERVICE_NAME: 'lb', http_proxy: 'http://127.0.0.1:3128', NO_PROXY: 'localhost', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', CI: 'true', GITHUB_ACTIONS: 'true',
  };
  const check = await runLb(env, ['--check']);
  assert.equal(check.stderr, '');
  assert.equal(check.code, 0);
});
