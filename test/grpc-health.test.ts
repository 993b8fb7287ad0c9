// @engine-independent: gRPC backends are HTTP/2 (the node engine), and gRPC clients come over TLS
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { adminApi } from './helpers/admin-api.js';
import { startBackends } from './helpers/backend.js';
import { createCa } from './helpers/certs.js';
import { startInProcess } from './helpers/in-process-lb.js';
import { runLb, startLb, type LogLine } from './helpers/lb.js';
import { echo, Echo, startGrpcHealthBackend, type EchoClient } from './fixtures/grpc-health-backend.js';

const ca = createCa();
const cert = ca.issue('lb-grpc-health', ['localhost', '127.0.0.1']);

const up = (id: string) => (l: LogLine): boolean => l.msg === 'backend is up' && l.backend === id;
const down = (id: string) => (l: LogLine): boolean => l.msg === 'backend is down' && l.backend === id;

/** A gRPC client of the balancer's TLS listener (it offers h2 by ALPN). */
function client(t: { after(fn: () => unknown): void }, port: number): EchoClient {
  // Named by its DNS name for TLS: a newer Node refuses an IP address as the TLS server name, which grpc-js would send.
  const c = new Echo(`127.0.0.1:${port}`, grpc.credentials.createSsl(Buffer.from(ca.cert)), { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' }) as unknown as EchoClient;
  t.after(() => c.close());
  return c;
}

/** Which backend answered each of `n` calls, one after another. */
async function calls(c: EchoClient, n: number): Promise<string[]> {
  const names: string[] = [];
  for (let i = 0; i < n; i++) names.push(await echo(c, String(i)));
  return names;
}

test('HEALTH_CHECK_TYPE=grpc for the default pool: SERVING takes traffic; NOT_SERVING for the named service takes the backend down with that reason; SERVING again brings it back', async (t) => {
  const a = await startGrpcHealthBackend(t, { name: 'a' });
  const b = await startGrpcHealthBackend(t, { name: 'b' });
  const lb = await startLb({
    BACKENDS: `${a.url}|proto=h2c|id=a,${b.url}|proto=h2c|id=b`,
    HEALTH_CHECK_TYPE: 'grpc', HEALTH_CHECK_GRPC_SERVICE: 'lbtest.Echo',
    HEALTH_CHECK_INTERVAL: '100ms', HEALTH_CHECK_DOWN_INTERVAL: '50ms', HEALTH_CHECK_RISE: '1', HEALTH_CHECK_FALL: '1',
    TLS_CERT_FILE: cert.certFile, TLS_KEY_FILE: cert.keyFile, ADMIN_PORT: '0',
  });
  t.after(() => lb.stop());
  const admin = `http://127.0.0.1:${(await lb.waitForLog((l) => l.msg === 'admin listening')).port as number}`;
  await lb.waitForLog(up('a'));
  await lb.waitForLog(up('b'));
  assert.ok(a.checks.length >= 1 && a.checks.every((s) => s === 'lbtest.Echo'), `every Check named the service: ${JSON.stringify(a.checks)}`);
  const c = client(t, lb.port);
  assert.deepEqual((await calls(c, 4)).sort(), ['a', 'a', 'b', 'b']);

  // The server as a whole stays SERVING: only the named service's status counts.
  a.statuses.set('lbtest.Echo', 'NOT_SERVING');
  assert.equal((await lb.waitForLog(down('a'))).reason, 'grpc NOT_SERVING');
  const backends = await adminApi(admin, 'GET', '/api/backends', undefined, {});
  assert.deepEqual(backends.body.backends.map((x: { id: string; healthy: boolean; healthReason?: string }) => [x.id, x.healthy, x.healthReason]),
    [['a', false, 'grpc NOT_SERVING'], ['b', true, undefined]]);
  const before = a.calls;
  assert.deepEqual(await calls(c, 4), ['b', 'b', 'b', 'b']);
  assert.equal(a.calls, before, 'no call reaches a backend that is down');

  a.statuses.set('lbtest.Echo', 'SERVING');
  // The start-up line matches too: wait for the recovery's own.
  await lb.waitForLog(() => lb.logs.filter(up('a')).length >= 2);
  assert.deepEqual((await calls(c, 4)).sort(), ['a', 'a', 'b', 'b']);
  assert.equal(lb.logs.filter(down('a')).length, 1, 'one flip down, logged once');

  const pools = await adminApi(admin, 'GET', '/api/pools', undefined, {});
  assert.deepEqual([pools.body.pools[0].settings.healthType, pools.body.pools[0].settings.healthService, pools.body.pools[0].settings.healthPath], ['grpc', 'lbtest.Echo', undefined]);
});

test('a pool with gRPC checks beside one with HTTP checks: h2c and h2 (TLS) backends pass, one without the Health service is down as UNIMPLEMENTED, the HTTP pool is checked by GET', async (t) => {
  const g = await startGrpcHealthBackend(t, { name: 'g' });
  const u = await startGrpcHealthBackend(t, { name: 'u', health: false });
  const s = await startGrpcHealthBackend(t, { name: 's', tls: cert });
  const [web] = await startBackends(t, undefined, ['web']);
  const lb = await startInProcess({
    BACKENDS: `${web!.url}|id=web`, HEALTH_CHECK_PATH: '/health', ADMIN_PORT: '0',
    BACKEND_CA_FILE: ca.certFile, BACKEND_SERVERNAME: 'localhost',
  }, t, () => ({
    pools: {
      grpc: {
        proto: 'h2c',
        backends: [`${g.url}|id=g`, `${u.url}|id=u`, `${s.url}|proto=h2|id=s`],
        health: { type: 'grpc', service: 'lbtest.Echo' },
      },
    },
  }));
  // The first round is over before the listener opens: every verdict is in.
  assert.equal((await lb.waitForLog(down('u'))).reason, 'grpc-status 12 (UNIMPLEMENTED): The server does not implement the method /grpc.health.v1.Health/Check');
  await lb.waitForLog(up('g'));
  await lb.waitForLog(up('s'));
  await lb.waitForLog(up('web'));
  assert.deepEqual([g.checks, s.checks], [['lbtest.Echo'], ['lbtest.Echo']]);
  assert.deepEqual(web!.requests.map((r) => [r.method, r.url]), [['GET', '/health']], 'the HTTP pool keeps its GET');

  const admin = `http://127.0.0.1:${lb.lb.adminAddress!.port}`;
  const pools = await adminApi(admin, 'GET', '/api/pools', undefined, {});
  assert.deepEqual(pools.body.pools.map((p: { name: string; available: number; settings: Record<string, unknown> }) => [p.name, p.available, p.settings.healthType, p.settings.healthService, p.settings.healthPath]),
    [['default', 1, 'http', undefined, '/health'], ['grpc', 2, 'grpc', 'lbtest.Echo', undefined]]);
  const backends = await adminApi(admin, 'GET', '/api/pools/grpc/backends', undefined, {});
  assert.deepEqual(backends.body.backends.map((x: { id: string; proto: string; healthy: boolean }) => [x.id, x.proto, x.healthy]), [['g', 'h2c', true], ['u', 'h2c', false], ['s', 'h2', true]]);
});

test('lb --check names a pool\'s gRPC checks and warns of a health path they do not use; an HTTP/1.1 backend with gRPC checks is refused naming the pool', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lb-grpc-health-'));
  writeFileSync(join(dir, 'lb.yaml'), [
    'backends: [http://127.0.0.1:1]',
    'pools:',
    '  grpc:',
    '    proto: h2c',
    '    backends: [http://127.0.0.1:2]',
    '    health: { type: grpc, service: lbtest.Echo, path: /health }',
    '',
  ].join('\n'));
  const checked = await runLb({}, ['--config', 'lb.yaml', '--check'], dir);
  assert.equal(checked.code, 0, checked.stderr);
  assert.match(checked.stdout, /^pools: default \(1 backend entry, round-robin\), grpc \(1 backend entry, round-robin, grpc health checks of "lbtest\.Echo"\)$/m);
  assert.match(checked.stderr, /^lb: warning: health\.path of pool "grpc" does nothing with health\.type grpc /m);

  writeFileSync(join(dir, 'bad.yaml'), 'pools:\n  api:\n    backends: ["http://127.0.0.1:2|proto=h2c", http://127.0.0.1:3]\n    health: { type: grpc }\n');
  // The default pool, by environment: the path it does not use is warned about the same way.
  const env = await runLb({ BACKENDS: 'http://127.0.0.1:2|proto=h2c', HEALTH_CHECK_TYPE: 'grpc', HEALTH_CHECK_PATH: '/health' }, ['--check']);
  assert.equal(env.code, 0, env.stderr);
  assert.match(env.stdout, /^configuration OK: 1 backend entry, strategy round-robin, grpc health checks of the server$/m);
  assert.match(env.stderr, /^lb: warning: HEALTH_CHECK_PATH does nothing with gRPC health checks /m);

  const bad = await runLb({}, ['--config', 'bad.yaml', '--check'], dir);
  assert.equal(bad.code, 2);
  assert.equal(bad.stdout, '');
  assert.match(bad.stderr, /^lb: invalid HEALTH_CHECK_TYPE \(health\.type\) of pool "api" "grpc" for backend "http:\/\/127\.0\.0\.1:3" spoken to over HTTP\/1\.1 \(proto http1\): expected backends spoken to over HTTP\/2 \(proto h2c or h2/);
});

test('a reload changes the service the gRPC checks ask about, and refuses gRPC checks for an HTTP/1.1 backend, keeping the configuration', async (t) => {
  const g = await startGrpcHealthBackend(t, { name: 'g' });
  const health = { type: 'grpc', service: 'lbtest.Echo', downInterval: '50ms', rise: 1, fall: 1 };
  let file: Record<string, unknown> = { backends: [`${g.url}|proto=h2c|id=g`], health };
  const lb = await startInProcess({ HEALTH_CHECK_INTERVAL: '100ms' }, t, () => file);
  await lb.waitForLog(up('g'));

  file = { backends: [`${g.url}|proto=h2c|id=g`], health: { ...health, service: 'other.Service' } };
  const outcome = lb.lb.reload();
  assert.deepEqual([outcome.ok, outcome.needRestart], [true, []]);
  assert.equal((await lb.waitForLog(down('g'))).reason, 'grpc-status 5 (NOT_FOUND): unknown service other.Service');
  assert.ok(g.checks.includes('other.Service'));

  file = { backends: [`${g.url}|id=g`], health };
  const refused = lb.lb.reload();
  assert.equal(refused.ok, false);
  assert.match(refused.error!, /^invalid HEALTH_CHECK_TYPE \(health\.type\) "grpc" for backend "http:\/\/127\.0\.0\.1:\d+" spoken to over HTTP\/1\.1 \(proto http1\)/);
});
