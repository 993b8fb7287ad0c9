import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Dispatcher } from 'undici';
import { IdleKeeper } from './idle-pool.js';
import { UpstreamPool } from './upstream-pool.js';

/** A real HTTP server on 127.0.0.1 that counts the connections it has open. */
async function server(t: { after(fn: () => unknown): void }): Promise<{ origin: string; open: () => number; server: Server }> {
  const sockets = new Set<Socket>();
  const s = createServer((_req, res) => res.end('ok'));
  s.on('connection', (socket: Socket) => { sockets.add(socket); socket.once('close', () => sockets.delete(socket)); });
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  t.after(() => { s.closeAllConnections(); s.close(); });
  return { origin: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, open: () => sockets.size, server: s };
}

function pool(origin: string, maxIdle: number, keeper: IdleKeeper): UpstreamPool {
  return new UpstreamPool(origin, { maxIdle, keeper, client: { pipelining: 1, keepAliveTimeout: 60_000 } });
}

/** `n` requests at once, each on its own connection, handed back when done. */
async function concurrent(p: UpstreamPool, n: number): Promise<void> {
  const held: Dispatcher[] = Array.from({ length: n }, () => p.acquire());
  await Promise.all(held.map(async (c) => (await c.request({ path: '/', method: 'GET' })).body.dump()));
  for (const c of held) p.release(c);
}

test('connections are opened as requests need them and handed back; none stays busy', async (t) => {
  const { origin, open } = await server(t);
  const keeper = new IdleKeeper(100, 60_000);
  const p = pool(origin, 3, keeper);
  t.after(() => p.destroy());
  await concurrent(p, 12);
  assert.deepEqual(p.stats, { open: 12, busy: 0, idle: 12 });
  assert.equal(open(), 12);
});

test('idle connections beyond the cap are closed only once they have stayed idle through a whole interval, coldest first', async (t) => {
  const { origin } = await server(t);
  const keeper = new IdleKeeper(100, 60_000);
  const p = pool(origin, 3, keeper);
  t.after(() => p.destroy());
  await concurrent(p, 12);
  keeper.trim(); // the interval in which they were opened: every one of them was needed
  assert.equal(p.stats.idle, 12);
  // Steady load that needs five at a time: the five warmest are reused, seven stay cold.
  await concurrent(p, 5);
  keeper.trim();
  assert.equal(p.stats.idle, 5, 'the seven cold ones went; the five in use stay even though the cap is 3');
  keeper.trim();
  assert.deepEqual(p.stats, { open: 3, busy: 0, idle: 3 }, 'an interval without use brings it down to the cap');
});

test('HTTP_MAX_IDLE_CONNS caps the idle connections of all backends together', async (t) => {
  const a = await server(t);
  const b = await server(t);
  const keeper = new IdleKeeper(4, 60_000);
  const pa = pool(a.origin, 10, keeper);
  const pb = pool(b.origin, 10, keeper);
  t.after(() => Promise.all([pa.destroy(), pb.destroy()]));
  await Promise.all([concurrent(pa, 6), concurrent(pb, 6)]);
  keeper.trim();
  keeper.trim();
  assert.equal(pa.stats.idle + pb.stats.idle, 4);
});

test('an idle connection the backend closes is dropped; close() waits for busy ones', async (t) => {
  const { origin, server: s } = await server(t);
  const keeper = new IdleKeeper(100, 60_000);
  const p = pool(origin, 10, keeper);
  await concurrent(p, 2);
  assert.equal(p.stats.idle, 2);
  s.closeIdleConnections();
  while (p.stats.idle > 0) await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(p.stats, { open: 0, busy: 0, idle: 0 });
  const busy = p.acquire();
  const response = busy.request({ path: '/', method: 'GET' });
  const closed = p.close();
  await (await response).body.dump();
  p.release(busy);
  await closed;
  assert.deepEqual(p.stats, { open: 0, busy: 0, idle: 0 });
});
