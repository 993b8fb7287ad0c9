import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import type { Backend } from '../pool/index.js';
import { IdleKeeper } from '../proxy/idle-pool.js';
import { FastUpstream, type ConnectionUser, type UpstreamConnection } from './fast-upstream.js';

/** A try that sends one GET and reports the end of its response. */
function user(done: (connection: UpstreamConnection) => void): ConnectionUser {
  let current: UpstreamConnection | undefined;
  return {
    connected(connection) {
      current = connection;
      connection.writer.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    },
    onHead: () => false,
    onBody: () => undefined,
    onMessageEnd: () => done(current!),
    upgraded: () => undefined,
    lost: (err) => assert.fail(err),
    drained: () => undefined,
  };
}

/** A backend that answers every request on a connection with a 2-byte 200. */
async function okBackend(): Promise<{ server: Server; origin: string }> {
  const server = createServer((socket: Socket) => {
    socket.on('data', () => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, origin: `http://127.0.0.1:${(server.address() as { port: number }).port}` };
}

test('a connection released while paused (its try\'s client was slow) is read again in the pool, and its next response arrives', async (t) => {
  const { server, origin } = await okBackend();
  const keeper = new IdleKeeper(100, 60_000);
  const upstream = new FastUpstream({ origin } as Backend, { maxIdle: 1, keeper, connectTimeout: 5000 });
  let kept: UpstreamConnection | undefined;
  t.after(() => { kept?.destroy(); upstream.close(); keeper.stop(); server.close(); });
  const first = kept = await new Promise<UpstreamConnection>((resolve) => upstream.acquire(user(resolve)));
  // As a try does when its client's socket is full: the backend's socket is paused; the response ends meanwhile.
  first.socket.pause();
  upstream.release(first, true);
  assert.equal(first.socket.isPaused(), false, 'idle in the pool, it is read');
  const second = await new Promise<UpstreamConnection>((resolve) => upstream.acquire(user(resolve)));
  assert.equal(second, first, 'the kept connection served the next request');
});

test('connections beyond maxIdle stay open until they have been idle a whole interval: a burst does not close what the next burst needs', async (t) => {
  let accepted = 0;
  const server = createServer((socket: Socket) => {
    accepted++;
    socket.on('data', () => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const keeper = new IdleKeeper(100, 60_000);
  const upstream = new FastUpstream({ origin } as Backend, { maxIdle: 1, keeper, connectTimeout: 5000 });
  t.after(() => { upstream.close(); keeper.stop(); server.close(); });
  const burst = (): Promise<UpstreamConnection[]> => Promise.all(Array.from({ length: 3 }, () => new Promise<UpstreamConnection>((resolve) => upstream.acquire(user(resolve)))));
  const first = await burst();
  for (const connection of first) upstream.release(connection, true);
  assert.equal(upstream.stats.idle, 3, 'all three kept when they come back');
  const second = await burst();
  assert.equal(accepted, 3, 'the second burst reused the first one\'s connections');
  assert.deepEqual(new Set(second), new Set(first));
  for (const connection of second) upstream.release(connection, true);
  // The interval in which they were busy: none was idle all along, none closes.
  keeper.trim();
  assert.equal(upstream.stats.idle, 3);
  // A whole interval idle: all but maxIdle close.
  keeper.trim();
  assert.equal(upstream.stats.idle, 1);
});

test('a connection the engine closes itself (trimmed, timed out, cancelled) frees its parser, and with it the connection and its read buffer', async (t) => {
  const { server, origin } = await okBackend();
  const keeper = new IdleKeeper(100, 60_000);
  const upstream = new FastUpstream({ origin } as Backend, { maxIdle: 0, keeper, connectTimeout: 5000 });
  t.after(() => { upstream.close(); keeper.stop(); server.close(); });
  const connection = await new Promise<UpstreamConnection>((resolve) => upstream.acquire(user(resolve)));
  upstream.release(connection, true);
  keeper.trim();
  keeper.trim(); // idle a whole tick beyond maxIdle 0: closed by the engine
  await once(connection.socket, 'close');
  assert.equal(connection.parserClosed, true);
});
