import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { readShared, SocketWriter, selfTest } from './direct-io.js';

async function socketPair(): Promise<{ client: Socket; peer: Socket; close(): void }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const client = connect((server.address() as { port: number }).port, '127.0.0.1');
  await once(client, 'connect');
  const [peer] = await accepted as [Socket];
  return { client, peer, close: () => { client.destroy(); peer.destroy(); server.close(); } };
}

test('the start-up self-test passes on this Node.js', async () => {
  assert.equal(await selfTest(), undefined);
});

test('writes through a paused, then slow, reader arrive whole and in order, mixing direct and queued writes', async (t) => {
  const { client, peer, close } = await socketPair();
  t.after(close);
  const writer = new SocketWriter(client);
  // Chunks of distinct content, so a byte out of place or lost shows.
  const chunks: (Buffer | string)[] = [];
  for (let i = 0; i < 120; i++) {
    const size = i % 3 === 0 ? 7 : (i % 3 === 1 ? 256 * 1024 : 40 * 1024);
    const fill = 0x41 + (i % 26);
    chunks.push(i % 2 === 0 ? String.fromCharCode(fill).repeat(size) : Buffer.alloc(size, fill));
  }
  const expected = Buffer.concat(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c, 'latin1') : c)));
  const got: Buffer[] = [];
  let length = 0;
  const all = new Promise<void>((resolve) => {
    peer.on('data', (chunk: Buffer) => {
      got.push(chunk);
      length += chunk.length;
      if (length >= expected.length) resolve();
    });
  });
  peer.pause();
  let waits = 0;
  for (const [i, chunk] of chunks.entries()) {
    if (i === 10) peer.resume(); // the first writes fill the kernel's buffers; then it reads
    if (!writer.write(chunk)) {
      waits++;
      await once(client, 'drain');
    }
  }
  await all;
  assert.ok(waits > 0, 'some write had to wait for drain');
  assert.equal(length, expected.length);
  assert.ok(Buffer.concat(got).equals(expected), 'the bytes arrived in the order written');
  assert.equal(writer.queued, 0);
});

test('a write to a socket its peer has reset fails the socket with the error, not the process', async (t) => {
  const { client, peer, close } = await socketPair();
  t.after(close);
  const writer = new SocketWriter(client);
  writer.write('hello');
  peer.resetAndDestroy();
  await once(peer, 'close');
  const closed = new Promise((resolve) => client.once('close', resolve));
  let error: NodeJS.ErrnoException | undefined;
  client.on('error', (err) => { error = err; });
  // The reset may take a write or two to be noticed.
  for (let i = 0; i < 50 && !client.destroyed; i++) {
    writer.write(Buffer.alloc(64 * 1024));
    await new Promise((resolve) => setImmediate(resolve));
  }
  await closed;
  assert.ok(client.destroyed);
  assert.ok(error !== undefined && ['ECONNRESET', 'EPIPE'].includes(error.code ?? ''), `the socket failed with ${error?.code}`);
});

test('a write that went asynchronous is never reused while libuv holds it (a reader in another process, racing)', async (t) => {
  // The race: the kernel takes part of a write, then, before the call returns, makes room for
  // the rest; libuv sends it at once but still owns the request until its callback. Reusing it
  // then aborted the process (an assertion in Node's stream code).
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const reader = spawn(process.execPath, ['-e', `
    const s = require('node:net').connect(${(server.address() as { port: number }).port}, '127.0.0.1');
    let n = 0; s.on('data', (d) => { n += d.length; }); s.on('end', () => { process.stdout.write(String(n)); });`], { stdio: ['ignore', 'pipe', 'inherit'] });
  let total = '';
  reader.stdout.on('data', (d: Buffer) => { total += d.toString(); });
  const [client] = await once(server, 'connection') as [Socket];
  t.after(() => { client.destroy(); server.close(); reader.kill(); });
  const writer = new SocketWriter(client);
  const chunk = Buffer.alloc(48 * 1024, 0x78);
  let written = 0;
  for (let i = 0; i < 3000; i++) {
    written += chunk.length;
    if (!writer.write(i % 2 === 0 ? chunk : chunk.toString('latin1'))) await once(client, 'drain');
  }
  client.end();
  await once(reader, 'exit');
  assert.equal(Number(total), written);
});

test('sockets reading through the one shared buffer each get their own bytes, in order; pausing stops the reads; the end comes', async (t) => {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const peers: Socket[] = [];
  server.on('connection', (socket: Socket) => peers.push(socket));
  const clients = [connect(port, '127.0.0.1'), connect(port, '127.0.0.1')];
  t.after(() => { for (const s of [...clients, ...peers]) s.destroy(); server.close(); });
  await Promise.all(clients.map((c) => once(c, 'connect')));
  while (peers.length < 2) await once(server, 'connection');
  const got: string[][] = [[], []];
  const ends = peers.map((peer, i) => {
    assert.ok(readShared(peer, (chunk) => got[i]!.push(chunk.toString('latin1'))));
    return once(peer, 'end');
  });
  // The first reads nothing for a while: its client's writes must come to wait.
  peers[0]!.pause();
  const sent: Buffer[][] = [[], []];
  const chunk = (i: number, n: number): Buffer => Buffer.from(`${i}:${n};`.padEnd(1024 * 1024, i === 0 ? 'a' : 'b'), 'latin1');
  let blocked = false;
  for (let n = 0; n < 256 && !blocked; n++) {
    for (const [i, client] of clients.entries()) {
      const data = chunk(i, n);
      sent[i]!.push(data);
      const more = client.write(data);
      if (i === 0 && !more) blocked = true;
    }
  }
  const payloads = sent.map((chunks) => Buffer.concat(chunks).toString('latin1'));
  assert.ok(blocked, 'the paused socket read nothing, so its client had to wait');
  assert.equal(got[0]!.length, 0, 'no read reached the paused socket');
  peers[0]!.resume();
  for (const client of clients) client.end();
  await Promise.all(ends);
  assert.equal(got[0]!.join(''), payloads[0]);
  assert.equal(got[1]!.join(''), payloads[1]);
});
