import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type Server, type TLSSocket } from 'node:tls';
import { CertificateStore } from './certificate-store.js';
import { ServerContexts } from './server-contexts.js';
import { SessionTickets, ticketKeyHook } from './session-tickets.js';
import { TICKET_KEY_BYTES } from './ticket-keys.js';

const dir = mkdtempSync(join(tmpdir(), 'lb-tickets-'));

function selfSigned(name: string): { cert: string; key: string } {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name}`, '-keyout', `${name}.key`, '-out', `${name}.pem`], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  return { cert: readFileSync(join(dir, `${name}.pem`), 'utf8'), key: readFileSync(join(dir, `${name}.key`), 'utf8') };
}

// a.test is the default pair (the server's own context); b.test a context chosen by SNI.
const a = selfSigned('a.test');
const b = selfSigned('b.test');
const VERSIONS = ['TLSv1.3', 'TLSv1.2'] as const;

/** A TLS server like the listener's: one SessionTickets for its own context and the store's. */
async function serve(t: { after: (fn: () => unknown) => void }, tickets: SessionTickets): Promise<{ server: Server; port: number }> {
  const contexts = new ServerContexts({ minVersion: 'TLSv1.2' }, tickets);
  const store = new CertificateStore(contexts);
  store.set('a', a);
  store.set('b', b);
  const server = createServer(contexts.serverOptions({ ...store.defaultOptions(), SNICallback: store.SNICallback }), (socket) => socket.end('ok'));
  assert.equal(contexts.adopt(server), true, 'the server\'s own context is reachable');
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  return { server, port: (server.address() as { port: number }).port };
}

/** One connection (resuming `session` when given): whether it resumed, and the last session ticket it was given. */
function handshake(port: number, servername: string, version: (typeof VERSIONS)[number], session?: Buffer): Promise<{ reused: boolean; session: Buffer | undefined }> {
  return new Promise((resolve, reject) => {
    let latest: Buffer | undefined;
    const socket: TLSSocket = connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false, minVersion: version, maxVersion: version, ...(session === undefined ? {} : { session }) });
    socket.on('session', (s: Buffer) => { latest = s; });
    socket.resume();
    // A TLS 1.2 client is given a renewed ticket without a 'session' event: the socket's session has it.
    socket.on('end', () => { resolve({ reused: socket.isSessionReused(), session: latest ?? socket.getSession() }); socket.end(); });
    socket.on('error', reject);
  });
}

const key = (): Buffer => randomBytes(TICKET_KEY_BYTES);

test('this Node.js has the ticket key callback (Node 20, 24, 26): the previous key is kept', () => {
  assert.equal(ticketKeyHook(), true);
  assert.equal(new SessionTickets().keepsPrevious, true);
});

for (const version of VERSIONS) {
  for (const name of ['a.test', 'b.test']) {
    test(`${version}, ${name === 'a.test' ? 'the server\'s own context' : 'a context chosen by SNI'}: a ticket from before a rotation resumes after it (and is renewed); one from two rotations ago does not`, async (t) => {
      const tickets = new SessionTickets();
      const [k1, k2, k3] = [key(), key(), key()];
      tickets.set(k1);
      const { port } = await serve(t, tickets);
      const first = await handshake(port, name, version);
      assert.equal(first.reused, false);
      assert.ok(first.session !== undefined, 'a ticket was issued');
      assert.equal((await handshake(port, name, version, first.session)).reused, true, 'resumes under the current key');

      tickets.set(Buffer.concat([k2, k1]));
      const after = await handshake(port, name, version, first.session);
      assert.equal(after.reused, true, 'resumes one rotation later (the previous key decrypts)');
      assert.ok(after.session !== undefined && !after.session.equals(first.session), 'a new ticket was issued');

      tickets.set(Buffer.concat([k3, k2]));
      assert.equal((await handshake(port, name, version, first.session)).reused, false, 'two rotations later: a full handshake');
      assert.equal((await handshake(port, name, version, after.session)).reused, true, 'the renewed ticket (under the key now previous) still resumes');
    });
  }
}

test('two servers given the same keys (two workers) resume each other\'s tickets, before and after a rotation', async (t) => {
  const [k1, k2] = [key(), key()];
  const one = new SessionTickets();
  const two = new SessionTickets();
  one.set(k1);
  two.set(k1);
  const [s1, s2] = [await serve(t, one), await serve(t, two)];
  for (const version of VERSIONS) {
    const first = await handshake(s1.port, 'b.test', version);
    assert.equal((await handshake(s2.port, 'b.test', version, first.session)).reused, true, `${version}: the other server resumes`);
    one.set(Buffer.concat([k2, k1]));
    two.set(Buffer.concat([k2, k1]));
    assert.equal((await handshake(s2.port, 'b.test', version, first.session)).reused, true, `${version}: and after a rotation`);
    one.set(k1);
    two.set(k1);
  }
  // A server with keys of its own refuses them.
  const stranger = await serve(t, new SessionTickets());
  const first = await handshake(s1.port, 'a.test', 'TLSv1.3');
  assert.equal((await handshake(stranger.port, 'a.test', 'TLSv1.3', first.session)).reused, false);
});

test('without the callback (Node without the hook): every context gets the current key, again at each rotation; the previous one is lost', async (t) => {
  const tickets = new SessionTickets(false);
  assert.equal(tickets.keepsPrevious, false);
  const [k1, k2] = [key(), key()];
  tickets.set(k1);
  const { port } = await serve(t, tickets);
  for (const name of ['a.test', 'b.test']) {
    tickets.set(k1);
    const first = await handshake(port, name, 'TLSv1.3');
    assert.equal((await handshake(port, name, 'TLSv1.3', first.session)).reused, true, `${name}: resumes under the current key`);
    tickets.set(k2);
    const after = await handshake(port, name, 'TLSv1.3', first.session);
    assert.equal(after.reused, false, `${name}: the previous key is not kept`);
    assert.equal((await handshake(port, name, 'TLSv1.3', after.session)).reused, true, `${name}: the new key is on the context`);
  }
});

test('the callback answers from answers made once per key: the same arrays, a fresh IV in one buffer, 16-byte keys even when refusing', () => {
  const tickets = new SessionTickets();
  const [k1, k2] = [key(), key()];
  tickets.set(Buffer.concat([k2, k1]));
  const contexts = new ServerContexts({}, tickets);
  const native = contexts.create(a).context as { onticketkeycallback: (name: Buffer, iv: Buffer, enc: boolean) => unknown[] };
  const iv = Buffer.alloc(16);
  const issue = native.onticketkeycallback(Buffer.alloc(16), iv, true);
  assert.equal(issue[0], 1);
  assert.deepEqual(issue[3], k2.subarray(0, 16), 'issued under the current key\'s name');
  const firstIv = Buffer.from(issue[4] as Buffer);
  const again = native.onticketkeycallback(Buffer.alloc(16), iv, true);
  assert.equal(again, issue, 'no new array per ticket');
  assert.notDeepEqual(again[4], firstIv, 'a new IV per ticket');
  assert.deepEqual(native.onticketkeycallback(k2.subarray(0, 16), iv, false), [1, k2.subarray(16, 32), k2.subarray(32, 48)]);
  assert.deepEqual(native.onticketkeycallback(k1.subarray(0, 16), iv, false), [2, k1.subarray(16, 32), k1.subarray(32, 48)], 'the previous key: accepted and renewed');
  const refused = native.onticketkeycallback(randomBytes(16), iv, false);
  assert.equal(refused[0], 0);
  assert.equal((refused[1] as Buffer).length, 16);
  assert.equal((refused[2] as Buffer).length, 16);
  assert.throws(() => tickets.set(Buffer.alloc(47)), RangeError);
});
