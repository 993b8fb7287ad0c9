// @engine-independent: configuration loading and its errors, before any listener exists
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLb, startLb } from './helpers/lb.js';

function dirWith(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'lb-config-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

const BAD: { env?: Record<string, string>; args?: string[]; files?: Record<string, string>; want: RegExp }[] = [
  { env: { BACKENDS: 'ftp://10.0.0.1' }, want: /^lb: invalid BACKENDS "ftp:\/\/10.0.0.1": expected an http:\/\/ or https:\/\/ URL/ },
  { env: { BACKENDS: 'not a url' }, want: /^lb: invalid BACKENDS "not a url": expected an http:\/\/ or https:\/\/ URL/ },
  { env: { BACKENDS: 'http://a:1, :nope' }, want: /^lb: invalid BACKENDS "http:\/\/a:1, :nope" \(at ":nope"\): expected an http/ },
  { env: { BACKENDS: ' , ' }, want: /^lb: invalid BACKENDS " , ": expected at least one backend/ },
  { env: { BACKENDS: 'http://a:1|weight=0' }, want: /^lb: invalid BACKENDS "http:\/\/a:1\|weight=0": expected a weight that is an integer from 1/ },
  { env: { BACKENDS: 'http://a:1,http://a:1/' }, want: /^lb: invalid BACKENDS .*: expected each backend URL once/ },
  { env: { PROXY_TIMEOUT: 'abc' }, want: /^lb: invalid PROXY_TIMEOUT "abc": expected a positive duration such as 250ms, 10s or 1m30s$/ },
  { env: { HEALTH_CHECK_INTERVAL: '-1s' }, want: /^lb: invalid HEALTH_CHECK_INTERVAL "-1s": expected a positive duration/ },
  { env: { HEALTH_CHECK_TIMEOUT: '10' }, want: /^lb: invalid HEALTH_CHECK_TIMEOUT "10": expected a positive duration/ },
  { env: { SHUTDOWN_TIMEOUT: '5 s' }, want: /^lb: invalid SHUTDOWN_TIMEOUT "5 s": expected a non-negative duration/ },
  { env: { PORT: '70000' }, want: /^lb: invalid PORT "70000": expected an integer from 0 to 65535$/ },
  { env: { PORT: '-1' }, want: /^lb: invalid PORT "-1": expected an integer from 0 to 65535$/ },
  { env: { STRATEGY: 'fastest' }, want: /^lb: invalid STRATEGY "fastest": expected one of round-robin/ },
  { env: { LOG_LEVEL: 'loud' }, want: /^lb: invalid LOG_LEVEL "loud": expected one of fatal, error/ },
  { env: { RETRIES: '11' }, want: /^lb: invalid RETRIES "11": expected an integer from 0 to 10$/ },
  { env: { RETRY_ON_STATUS: '503,404' }, want: /^lb: invalid RETRY_ON_STATUS "503,404": expected HTTP statuses from 500 to 599/ },
  { env: { RETRY_BUDGET: '150%' }, want: /^lb: invalid RETRY_BUDGET "150%": expected a share such as 20% or 0.2/ },
  { env: { OUTLIER_MAX_EJECTED: 'half' }, want: /^lb: invalid OUTLIER_MAX_EJECTED "half": expected a share/ },
  { env: { QUEUE_TIMEOUT: '0' }, want: /^lb: invalid QUEUE_TIMEOUT "0": expected a positive duration/ },
  { env: { SLOW_START: 'slowly' }, want: /^lb: invalid SLOW_START "slowly": expected a non-negative duration/ },
  { env: { HEALTH_CHECK_DOWN_INTERVAL: '-2s' }, want: /^lb: invalid HEALTH_CHECK_DOWN_INTERVAL "-2s": expected a positive duration/ },
  { env: { CLIENT_SEND_TIMEOUT: 'forever' }, want: /^lb: invalid CLIENT_SEND_TIMEOUT "forever": expected a non-negative duration such as 250ms, 10s or 1m30s$/ },
  { env: { CLIENT_BODY_TIMEOUT: '-5s' }, want: /^lb: invalid CLIENT_BODY_TIMEOUT "-5s": expected a non-negative duration/ },
  { env: { HEALTH_CHECK_TYPE: 'tcp' }, want: /^lb: invalid HEALTH_CHECK_TYPE "tcp": expected one of http, grpc$/ },
  { args: ['--health-check-type', 'h2'], want: /^lb: invalid --health-check-type "h2": expected one of http, grpc$/ },
  { env: { HEALTH_CHECK_GRPC_SERVICE: 'my service' }, want: /^lb: invalid HEALTH_CHECK_GRPC_SERVICE "my service": expected a gRPC service name such as my.package.Service/ },
  // gRPC needs HTTP/2: with an HTTP/1.1 backend every check would fail.
  { env: { BACKENDS: 'http://127.0.0.1:1', HEALTH_CHECK_TYPE: 'grpc' }, want: /^lb: invalid HEALTH_CHECK_TYPE \(health.type\) "grpc" for backend "http:\/\/127.0.0.1:1" spoken to over HTTP\/1.1 \(proto http1\): expected backends spoken to over HTTP\/2/ },
  { args: ['--config', 'lb.yaml'], files: { 'lb.yaml': 'pools:\n  api:\n    backends: ["http://127.0.0.1:1|proto=h2c"]\n    health: { type: grpc, service: 5 }\n' }, want: /^lb: invalid health.service of pool "api" in lb.yaml 5: expected a gRPC service name/ },
  { args: ['--config', 'lb.yaml'], files: { 'lb.yaml': 'pools:\n  api:\n    backends: ["https://127.0.0.1:1"]\n    health: { type: grpc }\n' }, want: /^lb: invalid HEALTH_CHECK_TYPE \(health.type\) of pool "api" "grpc" for backend "https:\/\/127.0.0.1:1" spoken to over HTTP\/1.1 \(proto auto\)/ },
  { env: { HTTP_MAX_IDLE_CONNS_PER_HOST: '0' }, want: /^lb: invalid HTTP_MAX_IDLE_CONNS_PER_HOST "0": expected an integer from 1/ },
  { args: ['--port', 'eighty'], want: /^lb: invalid --port "eighty": expected an integer from 0 to 65535$/ },
  { args: ['--no-such-flag'], want: /^lb: Unknown option '--no-such-flag'/ },
  { args: ['--config', 'lb.yaml'], files: { 'lb.yaml': 'port: 8080\nproxy:\n  timout: 5s\n' }, want: /^lb: unknown setting "proxy.timout" in lb.yaml: expected one of proxy.connectTimeout, proxy.timeout, proxy.requestTimeout$/ },
  { args: ['--config', 'lb.yaml'], files: { 'lb.yaml': 'colour: blue\n' }, want: /^lb: unknown setting "colour" in lb.yaml: expected one of port, host, backends/ },
  { args: ['--config', 'lb.yaml'], files: { 'lb.yaml': 'strategy: nope\n' }, want: /^lb: invalid strategy in lb.yaml "nope": expected one of round-robin/ },
  { args: ['--config', 'lb.json'], files: { 'lb.json': '{"backends": []}' }, want: /^lb: invalid backends in lb.json \[\]: expected at least one backend/ },
  { args: ['--config', 'lb.json'], files: { 'lb.json': '{"port": 80,' }, want: /^lb: config file lb.json is not valid JSON/ },
  // A file caught half-written on a reload is empty: read as "no settings", it put the defaults' backends in the pool.
  { args: ['--config', 'lb.yaml'], files: { 'lb.yaml': '\n' }, want: /^lb: config file lb.yaml is empty: expected a YAML or JSON file of settings$/ },
  { args: ['--config', 'missing.yaml'], want: /^lb: cannot read config file missing.yaml \(\/.*\/missing.yaml\): no such file \(ENOENT\); expected a YAML or JSON file of settings/ },
  { args: ['--config', 'lb.yaml'], files: { 'lb.yaml': 'a: b: c\n' }, want: /^lb: config file lb.yaml is not valid YAML: Nested mappings are not allowed in compact mappings at line 1, column 4 \("a: b: c"\)$/ },
  { args: ['--backend', 'http://127.0.0.1:1'], want: /^lb: Unknown option '--backend': did you mean --backends\? \(see lb --help\)$/ },
  { env: { ADMIN_TOKEN: 'short' }, want: /^lb: invalid ADMIN_TOKEN \[redacted\] \(5 characters\): expected a secret of at least 16 characters$/ },
  { env: { STICKY_SECRET: 'tiny' }, want: /^lb: invalid STICKY_SECRET \[redacted\] \(4 characters\): expected a secret of at least 16 characters$/ },
  { env: { BACKENDS: 'http://user:password@127.0.0.1:1' }, want: /^lb: invalid BACKENDS "http:\/\/user:\[redacted\]@127.0.0.1:1": expected .*without credentials/ },
  { env: { BACKENDS: '' }, want: /^lb: invalid BACKENDS "": expected at least one backend/ },
  { env: { BACKENDS: 'http://127.0.0.1:1', PROXY_TIMOUT: '1s', STRICT_ENV: 'true' }, want: /^lb: unknown setting PROXY_TIMOUT in the environment \(STRICT_ENV is on\): did you mean PROXY_TIMEOUT\?$/ },
  { env: { BACKENDS: 'http://127.0.0.1:1' }, args: ['--config', 'lb.yaml'], files: { 'lb.yaml': 'strict: true\n', '.env': 'HEALTHCHECK_PATH=/h\n' }, want: /^lb: unknown setting HEALTHCHECK_PATH in the .env .*did you mean HEALTH_CHECK_PATH\?$/ },
  { files: { '.env': 'HEALTH_CHECK_INTERVAL=often\n' }, want: /^lb: invalid HEALTH_CHECK_INTERVAL in .env "often": expected a positive duration/ },
];

test('every invalid value exits 2 with one line naming the setting, the value and what was expected', async () => {
  await Promise.all(BAD.map(async ({ env = {}, args = [], files = {}, want }) => {
    const { code, stdout, stderr } = await runLb(env, args, dirWith(files));
    const what = JSON.stringify({ env, args, files });
    assert.equal(code, 2, `${what}: exit code`);
    assert.equal(stdout, '', what);
    const lines = stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, `${what}: one line, no stack trace: ${stderr}`);
    assert.match(lines[0]!, want, what);
  }));
});

test('precedence: defaults < config file < .env < environment < flags', async (t) => {
  const dir = dirWith({
    'lb.yaml': 'proxy:\n  timeout: 1s\nhealth:\n  timeout: 2s\n  interval: 3s\nshutdown:\n  timeout: 4s\n',
    '.env': 'HEALTH_CHECK_TIMEOUT=20s\nHEALTH_CHECK_INTERVAL=30s\nSHUTDOWN_TIMEOUT=40s\n',
  });
  const lb = await startLb(
    { BACKENDS: 'http://127.0.0.1:1', HEALTH_CHECK_INTERVAL: '300s', SHUTDOWN_TIMEOUT: '400s' },
    { cwd: dir, args: ['--config', 'lb.yaml', '--shutdown-timeout', '4000s'] },
  );
  t.after(() => lb.stop());
  const config = (await lb.waitForLog((l) => l.msg === 'starting')).config as Record<string, any>;
  assert.equal(config.proxy.timeout, 1000, 'file over default');
  assert.equal(config.health.timeout, 20_000, '.env over file');
  assert.equal(config.health.interval, 300_000, 'environment over .env');
  assert.equal(config.shutdown.timeout, 4_000_000, 'flag over everything');
  assert.equal(config.port, 0);
});

test('a config file takes nested keys, weights and durations', async (t) => {
  const dir = dirWith({ 'lb.json': JSON.stringify({ backends: ['http://127.0.0.1:1/api/', { url: 'http://127.0.0.1:2', weight: 5 }], health: { path: '/healthz', rise: 2, fall: 3 }, log: { level: 'debug' } }) });
  const lb = await startLb({ PORT: '0' }, { cwd: dir, args: ['-c', 'lb.json'] });
  t.after(() => lb.stop());
  const config = (await lb.waitForLog((l) => l.msg === 'starting')).config as Record<string, any>;
  assert.deepEqual(config.backends, ['http://127.0.0.1:1/api', 'http://127.0.0.1:2|weight=5']);
  assert.deepEqual(config.health, { type: 'http', service: '', path: '/healthz', interval: 3_600_000, downInterval: 2000, timeout: 1000, rise: 2, fall: 3, warnWeight: 0.5 });
  assert.equal(config.log.level, 'debug');
});

test('the origin\'s defaults apply when nothing is set', async (t) => {
  const lb = await startLb({ PORT: '0' });
  t.after(() => lb.stop());
  const config = (await lb.waitForLog((l) => l.msg === 'starting')).config as Record<string, any>;
  assert.deepEqual(config.backends, ['http://localhost:8081', 'http://localhost:8082', 'http://localhost:8083']);
  assert.equal(config.proxy.timeout, 10_000);
  assert.equal(config.health.timeout, 1000);
  assert.equal(config.http.maxIdleConns, 30);
  assert.equal(config.http.maxIdleConnsPerHost, 30);
  assert.equal(config.http.idleConnTimeout, 90_000);
  assert.equal(config.shutdown.timeout, 30_000);
});

test('--help documents every setting with its default; --version prints the version', async () => {
  const help = await runLb({}, ['--help']);
  assert.equal(help.code, 0);
  for (const name of ['PORT', 'BACKENDS', 'PROXY_TIMEOUT', 'HEALTH_CHECK_TIMEOUT', 'HEALTH_CHECK_INTERVAL', 'HEALTH_CHECK_PATH',
    'HTTP_MAX_IDLE_CONNS', 'HTTP_MAX_IDLE_CONNS_PER_HOST', 'HTTP_IDLE_CONN_TIMEOUT', 'SHUTDOWN_TIMEOUT', 'STRATEGY', 'LOG_LEVEL', 'LOG_FORMAT']) {
    assert.match(help.stdout, new RegExp(`\\b${name} / `), name);
  }
  assert.match(help.stdout, /--proxy-timeout VALUE[\s\S]*Default: 10s\./);
  const version = await runLb({}, ['--version']);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
});

test('a port that is taken: exit 1 with a clear message', async (t) => {
  const first = await startLb({ BACKENDS: 'http://127.0.0.1:1' });
  t.after(() => first.stop());
  const second = await runLb({ BACKENDS: 'http://127.0.0.1:1', PORT: String(first.port), HEALTH_CHECK_INTERVAL: '1h' });
  assert.equal(second.code, 1);
  assert.match(second.stderr, /^lb: cannot start: listen EADDRINUSE/);
});

test('a port that is taken with WORKERS=2: the primary exits 1 with a clear message instead of restarting workers', { timeout: 20_000 }, async (t) => {
  const first = await startLb({ BACKENDS: 'http://127.0.0.1:1' });
  t.after(() => first.stop());
  const second = await runLb({ BACKENDS: 'http://127.0.0.1:1', PORT: String(first.port), HEALTH_CHECK_INTERVAL: '1h', WORKERS: '2' });
  assert.equal(second.code, 1);
  assert.match(second.stderr, /^lb: cannot start: bind EADDRINUSE 127\.0\.0\.1:\d+\n$/);
  const lines = second.stdout.trim().split('\n').map((l) => JSON.parse(l) as { msg: string; code?: string });
  const fatal = lines.find((l) => l.msg === 'cannot start');
  assert.equal(fatal?.code, 'EADDRINUSE');
  assert.equal(lines.filter((l) => l.msg === 'worker died: starting a new one').length, 0);
});

test('a misspelt setting in the environment or .env is reported at start-up with what it is probably meant to be; so are defaults and settings that do nothing', async (t) => {
  const lb = await startLb({ PROXY_TIMOUT: '1s', BACKEND: 'http://127.0.0.1:1', HTTP_PORT: '9999' }, { cwd: dirWith({ '.env': 'HEALTHCHECK_PATH=/h\n' }) });
  t.after(() => lb.stop());
  const warnings = lb.logs.filter((l) => l.level === 40).map((l) => l.msg);
  for (const pattern of [/^PROXY_TIMOUT in the environment is not a setting: did you mean PROXY_TIMEOUT\?/, /^BACKEND in the environment is not a setting: did you mean BACKENDS\?/,
    /^HEALTHCHECK_PATH in the .env is not a setting: did you mean HEALTH_CHECK_PATH\?/, /^no backend is configured .*http:\/\/localhost:8081,http:\/\/localhost:8082,http:\/\/localhost:8083/,
    /^HTTP_PORT does nothing without TLS/]) {
    assert.ok(warnings.some((w) => pattern.test(w ?? '')), `${pattern} in ${JSON.stringify(warnings)}`);
  }
});

test('a config file\'s value the environment overrides is warned about with both values; --check prints the listeners that result', async () => {
  const dir = dirWith({ 'portcfg.yaml': 'port: 7500\nhost: 127.0.0.1\nadmin:\n  port: 7590\nbackends:\n  - http://127.0.0.1:1\n' });
  const overridden = await runLb({ PORT: '7501', ADMIN_PORT: '7591', HOST: '127.0.0.1' }, ['--config', 'portcfg.yaml', '--check'], dir);
  assert.equal(overridden.code, 0, overridden.stderr);
  assert.match(overridden.stderr, /^lb: warning: PORT=7501 in the environment overrides port: 7500 in portcfg\.yaml /m);
  assert.match(overridden.stderr, /^lb: warning: ADMIN_PORT=7591 in the environment overrides admin\.port: 7590 in portcfg\.yaml /m);
  assert.doesNotMatch(overridden.stderr, /HOST=/, 'the same value is no override');
  assert.match(overridden.stdout, /^listeners: http 127\.0\.0\.1:7501, admin 127\.0\.0\.1:7591$/m);
  // Unset (empty) in the environment, the file's ports apply.
  const file = await runLb({ PORT: '', HOST: '' }, ['--config', 'portcfg.yaml', '--check'], dir);
  assert.equal(file.code, 0, file.stderr);
  assert.doesNotMatch(file.stderr, /overrides/);
  assert.match(file.stdout, /^listeners: http 127\.0\.0\.1:7500, admin 127\.0\.0\.1:7590$/m);
  const ipv6 = await runLb({ PORT: '8080', HOST: '::1' }, ['--check', '--backends', 'http://127.0.0.1:1']);
  assert.match(ipv6.stdout, /^listeners: http \[::1\]:8080, admin off$/m);
});
