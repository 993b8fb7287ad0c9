import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo, type ListenOptions } from 'node:net';
import { resolveConfig, objectLayer, ConfigError, envLayer, ineffectiveSettings } from '../config/index.js';
import { listenMode, PortReservation, reusePortUnsupported, workerPlan, LISTEN_ENV } from './worker-listen.js';

const NO_REUSE_PORT = reusePortUnsupported();

test('reusePort is there from Node 22.12 and 23.1, on Linux', () => {
  for (const version of ['22.12.0', '22.20.1', '23.1.0', '24.0.0', '26.12.1']) assert.equal(reusePortUnsupported(version, 'linux'), undefined, version);
  for (const version of ['20.20.2', '22.11.0', '23.0.0', '18.0.0']) assert.match(reusePortUnsupported(version, 'linux')!, /has no reusePort \(22\.12\+ or 23\.1\+\)/, version);
  assert.match(reusePortUnsupported('26.12.1', 'darwin')!, /Linux only \(this is darwin\)/);
});

test('WORKER_LISTEN: auto takes reuseport where it works and says why it falls back; reuseport where it cannot work is a configuration error', () => {
  assert.deepEqual(listenMode('auto', undefined), { mode: 'reuseport' });
  assert.deepEqual(listenMode('reuseport', undefined), { mode: 'reuseport' });
  assert.deepEqual(listenMode('shared', undefined), { mode: 'shared' });
  assert.deepEqual(listenMode('shared', 'no'), { mode: 'shared' });
  assert.deepEqual(listenMode('auto', 'Node.js 20.20.2 has no reusePort'), { mode: 'shared', fallback: 'Node.js 20.20.2 has no reusePort' });
  assert.throws(() => listenMode('reuseport', 'Node.js 20.20.2 has no reusePort'), (err: Error) =>
    err instanceof ConfigError && err.message === 'WORKER_LISTEN=reuseport cannot work here: Node.js 20.20.2 has no reusePort; use WORKER_LISTEN=shared or auto');
});

test('WORKER_LISTEN is validated with the values it takes', () => {
  assert.equal(resolveConfig([objectLayer({}, undefined)], ['round-robin']).workerListen, 'auto');
  assert.equal(resolveConfig([objectLayer({ workerListen: 'shared' }, undefined)], ['round-robin']).workerListen, 'shared');
  assert.throws(() => resolveConfig([objectLayer({ workerListen: 'reuse-port' }, undefined)], ['round-robin']), (err: Error) => err instanceof ConfigError && /workerListen|WORKER_LISTEN/.test(err.message) && /auto, reuseport, shared|auto|reuseport/.test(err.message));
});

test('a worker without LB_WORKER_LISTEN listens through the primary; with it, on the plan\'s ports', () => {
  assert.equal(workerPlan({}), undefined);
  assert.equal(workerPlan({ [LISTEN_ENV]: '' }), undefined);
  assert.deepEqual(workerPlan({ [LISTEN_ENV]: JSON.stringify({ reusePort: true, port: 8080, httpPort: 8081 }) }), { reusePort: true, port: 8080, httpPort: 8081 });
});

test('a port that another process holds is refused as a worker\'s listen would be, even when it listens with SO_REUSEPORT', async () => {
  const other = createServer();
  other.listen({ host: '127.0.0.1', port: 0, reusePort: true } as ListenOptions);
  await once(other, 'listening');
  const { port } = other.address() as AddressInfo;
  try {
    const config = resolveConfig([objectLayer({ host: '127.0.0.1', port }, undefined)], ['round-robin']);
    await assert.rejects(PortReservation.take(config), { code: 'EADDRINUSE' });
  } finally {
    other.close();
  }
});

test('port 0 is bound once, held while the workers bind the same number with SO_REUSEPORT, and let go at release', { skip: NO_REUSE_PORT }, async () => {
  const config = resolveConfig([objectLayer({ host: '127.0.0.1', port: 0 }, undefined)], ['round-robin']);
  const reservation = await PortReservation.take(config);
  assert.ok(reservation.port > 0);
  assert.deepEqual(reservation.plan, { reusePort: true, port: reservation.port, httpPort: undefined });
  const worker = createServer();
  worker.listen({ host: '127.0.0.1', port: reservation.port, reusePort: true } as ListenOptions);
  await once(worker, 'listening');
  reservation.release();
  reservation.release(); // twice is harmless
  // The worker keeps the port: a process that does not share it cannot take it.
  const intruder = createServer();
  intruder.listen({ host: '127.0.0.1', port: reservation.port });
  const [err] = await once(intruder, 'error') as [NodeJS.ErrnoException];
  assert.equal(err.code, 'EADDRINUSE');
  worker.close();
});

test('a configured port that is free is checked and not held', async () => {
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  probe.close();
  await once(probe, 'close');
  const reservation = await PortReservation.take(resolveConfig([objectLayer({ host: '127.0.0.1', port }, undefined)], ['round-robin']));
  assert.equal(reservation.port, port);
  // Nothing holds it: a plain listener binds it at once.
  const after = createServer().listen(port, '127.0.0.1');
  await once(after, 'listening');
  after.close();
  reservation.release();
});

test('WORKER_LISTEN without WORKERS is named as doing nothing', () => {
  const alone = envLayer({ BACKENDS: 'http://127.0.0.1:1', WORKER_LISTEN: 'shared' });
  assert.deepEqual(ineffectiveSettings(resolveConfig([alone], ['round-robin']), [alone]), ['WORKER_LISTEN does nothing without WORKERS (one process listens by itself)']);
  const workers = envLayer({ BACKENDS: 'http://127.0.0.1:1', WORKER_LISTEN: 'shared', WORKERS: '2' });
  assert.deepEqual(ineffectiveSettings(resolveConfig([workers], ['round-robin']), [workers]), []);
});
