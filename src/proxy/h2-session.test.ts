import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Http2Session, type Settings } from 'node:http2';
import { createServer as createTcpServer, connect as tcpConnect, type AddressInfo, type Socket } from 'node:net';
import type { Backend } from '../pool/index.js';
import { H2Session, type SessionOwner } from './h2-session.js';
import { H2Sessions } from './h2-sessions.js';
import type { H2Stream } from './h2-stream.js';

type FakeStream = H2Stream & { lostWith: Error | undefined; startedOn: H2Session | undefined };

/** Stands for a request: the session only starts it, and tells it when it is lost. */
function fakeStream(): FakeStream {
  const stream = {
    id: undefined, session: undefined as H2Session | undefined, lostWith: undefined as Error | undefined, startedOn: undefined as H2Session | undefined,
    start() { stream.startedOn = stream.session; },
    refused() {},
    lost(err: Error) { stream.lostWith ??= err; },
  };
  return stream as unknown as FakeStream;
}

/** An owner that keeps what it is told. */
function owner(): SessionOwner & { forgotten: H2Session[]; placed: H2Stream[] } {
  const forgotten: H2Session[] = [];
  const placed: H2Stream[] = [];
  return { forgotten, placed, forget: (s) => forgotten.push(s), place: (s) => placed.push(s), learned: () => undefined, broken: () => undefined };
}

async function h2c(t: { after(fn: () => unknown): void }, settings: Settings = {}): Promise<{ origin: string; port: number; sessions: Http2Session[]; pings: number[] }> {
  const server = createServer({ settings });
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
  const port = (server.address() as AddressInfo).port;
  return { origin: `http://127.0.0.1:${port}`, port, sessions, pings };
}

/** A TCP relay to `port` that can stop passing on what the backend sends (a backend that hangs, its socket open). */
async function freezable(t: { after(fn: () => unknown): void }, port: number): Promise<{ origin: string; freeze(): void }> {
  let frozen = false;
  const sockets: Socket[] = [];
  const relay = createTcpServer((client) => {
    const upstream = tcpConnect(port, '127.0.0.1');
    sockets.push(client, upstream);
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
    client.on('data', (c: Buffer) => upstream.write(c));
    upstream.on('data', (c: Buffer) => { if (!frozen) client.write(c); });
  });
  relay.listen(0, '127.0.0.1');
  await once(relay, 'listening');
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise((resolve) => relay.close(resolve));
  });
  return { origin: `http://127.0.0.1:${(relay.address() as AddressInfo).port}`, freeze: () => { frozen = true; } };
}

test('an idle session is PINGed for liveness, and closed once idle for the idle timeout', async (t) => {
  const { origin, pings } = await h2c(t);
  const own = owner();
  const session = new H2Session(origin, own, { connectTimeout: 1000, idleTimeout: 400, pingInterval: 50, tls: undefined });
  const stream = fakeStream();
  session.add(stream);
  await once(session.session, 'remoteSettings');
  assert.equal(stream.startedOn, session, 'started once the backend\'s SETTINGS came');
  session.release(stream);
  await once(session.session, 'close');
  assert.ok(pings.length >= 2, `PINGed while idle (${pings.length} times)`);
  assert.deepEqual(own.forgotten, [session], 'out of its backend\'s list');
  assert.equal(session.hasRoom, false);
});

test('a session in use is not closed for idleness; its streams count against the backend\'s limit', async (t) => {
  const { origin } = await h2c(t);
  const session = new H2Session(origin, owner(), { connectTimeout: 1000, idleTimeout: 50, pingInterval: 50, tls: undefined });
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
  const broken: Error[] = [];
  const refused = new H2Session('http://127.0.0.1:1', { ...owner(), broken: (_s, err) => broken.push(err) }, { connectTimeout: 1000, idleTimeout: 1000, pingInterval: 1000, tls: undefined });
  refused.add(waiting);
  await new Promise((resolve) => refused.session.once('close', resolve));
  assert.match(String((waiting.lostWith as NodeJS.ErrnoException | undefined)?.code), /ECONNREFUSED/);
  assert.equal(broken.length, 1, 'its owner is told the connection could not be made');
  const { origin } = await h2c(t);
  const session = new H2Session(origin, owner(), { connectTimeout: 1000, idleTimeout: 1000, pingInterval: 1000, tls: undefined });
  const carried = fakeStream();
  session.add(carried);
  await once(session.session, 'remoteSettings');
  const cut = new Error('shutdown');
  session.close(cut);
  assert.equal(carried.lostWith, cut);
});

test('a session carrying streams that hears nothing from its backend PINGs it; a backend that answers keeps it', async (t) => {
  const { origin, pings } = await h2c(t);
  const session = new H2Session(origin, owner(), { connectTimeout: 10_000, idleTimeout: 10_000, pingInterval: 20, tls: undefined });
  t.after(() => session.close(new Error('test over')));
  const stream = fakeStream();
  session.add(stream);
  await once(session.session, 'remoteSettings');
  // Bounded: until the backend has answered 3 PINGs.
  for (let i = 0; i < 500 && pings.length < 3; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(pings.length >= 3, `PINGed while busy and quiet (${pings.length} times)`);
  assert.equal(session.session.destroyed, false, 'answered PINGs keep it');
  assert.equal(stream.lostWith, undefined);
});

test('a backend that stops answering PINGs: its session is destroyed with a reset error, failing the streams it carries', async (t) => {
  const { port } = await h2c(t);
  const relay = await freezable(t, port);
  const own = owner();
  const session = new H2Session(relay.origin, own, { connectTimeout: 1000, idleTimeout: 60_000, pingInterval: 20, tls: undefined });
  const stream = fakeStream();
  session.add(stream);
  await once(session.session, 'remoteSettings');
  const closed = new Promise((resolve) => session.session.once('close', resolve));
  relay.freeze();
  const [err] = await once(session.session, 'error') as [Error & { code?: string }];
  assert.match(err.message, /did not answer a PING within 1000ms/);
  assert.equal(err.code, 'LB_ERR_UPSTREAM_RESET', 'a 502, retried only when the request had not been sent');
  await closed;
  assert.ok(stream.lostWith !== undefined, 'its stream failed');
  assert.deepEqual(own.forgotten, [session]);
});

test('a backend allowing 2 streams a session: 6 streams asked for at once open 3 sessions, 2 started on each, none over the limit', async (t) => {
  const { origin, sessions } = await h2c(t, { maxConcurrentStreams: 2 });
  const backend = { origin, proto: 'h2c' } as unknown as Backend;
  const set = new H2Sessions(backend, { connectTimeout: 1000, idleTimeout: 60_000, pingInterval: 60_000, tls: undefined }, 10);
  t.after(() => set.close(new Error('test over')));
  const streams = Array.from({ length: 6 }, fakeStream);
  for (const s of streams) set.place(s);
  assert.equal(set.sessions.length, 1, 'one session until the backend says how many streams it takes');
  // Bounded: each session's SETTINGS start 2 and place the rest on the next.
  for (let i = 0; i < 1000 && streams.some((s) => s.startedOn === undefined); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  const started = new Map<H2Session, number>();
  for (const s of streams) started.set(s.startedOn!, (started.get(s.startedOn!) ?? 0) + 1);
  assert.deepEqual([...started.values()], [2, 2, 2]);
  assert.equal(set.sessions.length, 3);
  assert.equal(sessions.length, 3, 'the backend saw three connections');
  // A new stream now goes to the least loaded session with room, opening none.
  set.sessions[1]!.release(streams[2]!);
  const next = fakeStream();
  set.place(next);
  assert.equal(next.session, set.sessions[1]);
  assert.equal(set.sessions.length, 3);
});

test('sessions at the cap: a stream goes to the least loaded one, no new session opens', async (t) => {
  const { origin } = await h2c(t, { maxConcurrentStreams: 1 });
  const backend = { origin, proto: 'h2c' } as unknown as Backend;
  const set = new H2Sessions(backend, { connectTimeout: 1000, idleTimeout: 60_000, pingInterval: 60_000, tls: undefined }, 2);
  t.after(() => set.close(new Error('test over')));
  const first = fakeStream();
  set.place(first);
  await once(set.sessions[0]!.session, 'remoteSettings');
  const second = fakeStream();
  set.place(second);
  assert.equal(set.sessions.length, 2, 'the first is full: another opens');
  const third = fakeStream();
  set.place(third);
  assert.equal(set.sessions.length, 2, 'at the cap of 2');
  assert.equal(third.session, set.sessions[0], 'as loaded as the other: the older takes it');
  const fourth = fakeStream();
  set.place(fourth);
  assert.equal(fourth.session, set.sessions[1], 'the least loaded takes it');
  assert.equal(set.sessions.length, 2);
});
