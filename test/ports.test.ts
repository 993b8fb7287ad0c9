// @engine-independent: it checks how the suite picks test ports; no balancer process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { startBackend } from './helpers/backend.js';
import { dedicatedPort, listen } from './helpers/ports.js';

// The suite's "dead backend" is a backend it closed. Test files run side by side, so such a port
// must not be one another file's listen(0) can be given (a dead backend that came back as another
// file's backend answered its checks and took requests).
test('a dedicated test port lies below the ephemeral range: once closed it refuses, whatever listen(0)s follow', async () => {
  const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  const dead = await startBackend('dead', undefined, { port: 'dedicated' });
  assert.ok(dead.port < low!, `port ${dead.port} below ${low}`);
  await dead.close();
  const others: Server[] = [];
  try {
    for (let i = 0; i < 200; i++) {
      const server = createServer().listen(0, '127.0.0.1');
      await once(server, 'listening');
      others.push(server);
      assert.notEqual((server.address() as AddressInfo).port, dead.port);
    }
    const socket = connect(dead.port, '127.0.0.1');
    const [err] = await once(socket, 'error') as [NodeJS.ErrnoException];
    assert.equal(err.code, 'ECONNREFUSED');
  } finally {
    await Promise.all(others.map((s) => new Promise((resolve) => s.close(resolve))));
  }
});

test('a dedicated port already taken (by a test file running beside this one) is passed over for another', async () => {
  const taken = createServer();
  await listen(taken, '127.0.0.1', 'dedicated');
  const takenPort = (taken.address() as AddressInfo).port;
  const server = createServer();
  const picks = [takenPort, takenPort];
  try {
    await listen(server, '127.0.0.1', 'dedicated', () => picks.shift() ?? dedicatedPort());
    const port = (server.address() as AddressInfo).port;
    assert.notEqual(port, takenPort);
    assert.equal(picks.length, 0, 'both picks of the taken port were tried');
  } finally {
    server.close();
    taken.close();
  }
});
