import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Http2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { H2Session } from './h2-session.js';
import type { H2Stream } from './h2-stream.js';

/** Stands for a request: the session only starts it, and tells it when it is lost. */
function fakeStream(): H2Stream & { lostWith: Error | undefined } {
  const stream = { id: undefined, lostWith: undefined as Error | undefined, start() {}, refused() {}, lost(err: Error) { stream.lostWith ??= err; } };
  return stream as unknown as H2Stream & { lostWith: Error | undefined };
}

async function h2c(t: { after(fn: () => unknown): void }): Promise<{ origin: string; sessions: Http2Session[]; pings: number[] }> {
  const server = createServer();
  const sessions: Http2Session[] = [];
  const pings: number[] = [];
  server.on('session', (session) => {
    sessions.push(session);
    session.on('ping', () => pings.push(sessions.indexOf(session)));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const s of sessions) s.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, sessions, pings };
}

test('an idle session is PINGed for liveness, and closed once idle for the idle timeout', async (t) => {
  const { origin, pings } = await h2c(t);
  const forgotten: H2Session[] = [];
  const session = new H2Session(origin, { forget: (s) => forgotten.push(s) }, { connectTimeout: 1000, idleTimeout: 400, pingInterval: 50, tls: undefined });
  const stream = fakeStream();
  session.add(stream);
  await once(session.session, 'connect');
  session.release(stream);
  await once(session.session, 'close');
  assert.ok(pings.length >= 2, `PINGed while idle (${pings.length} times)`);
  assert.deepEqual(forgotten, [session], 'out of its backend\'s list');
  assert.equal(session.hasRoom, false);
});

test('a session in use is not closed for idleness; its streams count against the backend\'s limit', async (t) => {
  const { origin } = await h2c(t);
  const session = new H2Session(origin, { forget: () => undefined }, { connectTimeout: 1000, idleTimeout: 50, pingInterval: 50, tls: undefined });
  t.after(() => session.close(new Error('test over')));
  const streams = [fakeStream(), fakeStream()];
  for (const s of streams) session.add(s);
  await once(session.session, 'remoteSettings');
  session.maxStreams = 2;
  assert.equal(session.hasRoom, false, 'full at the backend\'s SETTINGS_MAX_CONCURRENT_STREAMS');
  await new Promise((resolve) => setTimeout(resolve, 150));
  assert.equal(session.session.closed, false);
  session.release(streams[0]!);
  assert.equal(session.hasRoom, true);
});

test('a session that cannot connect fails the streams waiting for it, unsent; a cut fails those it carries', async (t) => {
  const waiting = fakeStream();
  const refused = new H2Session('http://127.0.0.1:1', { forget: () => undefined }, { connectTimeout: 1000, idleTimeout: 1000, pingInterval: 1000, tls: undefined });
  refused.add(waiting);
  await new Promise((resolve) => refused.session.once('close', resolve));
  assert.match(String((waiting.lostWith as NodeJS.ErrnoException | undefined)?.code), /ECONNREFUSED/);
  const { origin } = await h2c(t);
  const session = new H2Session(origin, { forget: () => undefined }, { connectTimeout: 1000, idleTimeout: 1000, pingInterval: 1000, tls: undefined });
  const carried = fakeStream();
  session.add(carried);
  await once(session.session, 'connect');
  const cut = new Error('shutdown');
  session.close(cut);
  assert.equal(carried.lostWith, cut);
});
