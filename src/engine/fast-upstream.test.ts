import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import type { Backend } from '../pool/index.js';
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

test('a connection released while paused (its try\'s client was slow) is read again in the pool, and its next response arrives', async (t) => {
  const server = createServer((socket: Socket) => {
    socket.on('data', () => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const upstream = new FastUpstream({ origin } as Backend, { maxIdle: 1, connectTimeout: 5000 });
  let kept: UpstreamConnection | undefined;
  t.after(() => { kept?.destroy(); upstream.close(); server.close(); });
  const first = kept = await new Promise<UpstreamConnection>((resolve) => upstream.acquire(user(resolve), 1));
  // As a try does when its client's socket is full: the backend's socket is paused; the response ends meanwhile.
  first.socket.pause();
  upstream.release(first, true, 1);
  assert.equal(first.socket.isPaused(), false, 'idle in the pool, it is read');
  const second = await new Promise<UpstreamConnection>((resolve) => upstream.acquire(user(resolve), 1));
  assert.equal(second, first, 'the kept connection served the next request');
});
