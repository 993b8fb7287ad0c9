import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ServerResponse } from 'node:http';
import { MAX_PIPELINED } from '../../../src/http1/index.js';
import { startBackend } from '../../helpers/backend.js';
import { big } from '../backends.js';
import { whenClosed } from '../../helpers/http.js';
import { settled, startBalancer, until, type Balancer, type EngineName } from '../../helpers/in-process.js';
import { startRawBackend, type RawBackend } from '../../helpers/raw-backend.js';
import { RawClient, values } from '../../helpers/raw-client.js';

type Context = { after(fn: () => unknown): void };

const UPGRADE = 'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n';

/** A backend that switches protocols, says `hello`, then echoes what it gets in upper case. */
async function tunnelBackend(t: Context): Promise<RawBackend> {
  const backend = await startRawBackend((req) => {
    req.socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\nhello');
    req.socket.on('data', (d: Buffer) => req.socket.write(d.toString('latin1').toUpperCase()));
  });
  t.after(() => backend.close());
  return backend;
}

/** What must be back to zero once nothing is in flight: the listeners', the proxy's and every backend's counts. */
function counts({ lb }: Balancer): { inFlight: number; active: number; retrying: number; backends: number[] } {
  return { inFlight: lb.inFlight, ...lb.attempts, backends: lb.pool.backends.map((b) => b.inFlight) };
}

function idle(balancer: Balancer): boolean {
  const c = counts(balancer);
  return c.inFlight === 0 && c.active === 0 && c.retrying === 0 && c.backends.every((n) => n === 0);
}

export function connectionCases(engine: EngineName): void {
  describe(`cancellation (${engine})`, () => {
    it('a client that leaves before its response aborts the backend\'s request', async (t) => {
      const backend = await startBackend('silent', (req) => { req.resume(); });
      t.after(() => backend.close());
      const balancer = await startBalancer(t, engine, [backend.url]);
      const client = await RawClient.connect(balancer.port);
      client.write('GET /never HTTP/1.1\r\nHost: x\r\n\r\n');
      const seen = await backend.nextRequest();
      client.close();
      await whenClosed(seen.socket);
      await until(() => idle(balancer), 'the balancer idle');
    });

    it('a client that leaves in the middle of a response stops the backend\'s transfer', async (t) => {
      const backend = await big(t, 256 * 1024 * 1024);
      const balancer = await startBalancer(t, engine, [backend.url]);
      const client = await RawClient.connect(balancer.port);
      client.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
      await client.until((b) => b.length > 1024 * 1024);
      client.close();
      assert.equal(await backend.cutEarly(), true, 'the backend\'s response was cut before it was all written');
      await until(() => idle(balancer), 'the balancer idle');
    });
  });

  describe(`pipelining (${engine})`, () => {
    it('requests sent in one packet are answered in order, bodies whole, even when the backend answers a later one first', async (t) => {
      const sizes: Record<string, number> = { '/1': 100_000, '/2': 3, '/3': 1000 };
      const arrived: string[] = [];
      let concurrent = false;
      const backend = await startBackend('sizes', (req, res) => {
        arrived.push(req.url!);
        if (req.url === '/3' && !arrived.includes('/1:answered')) concurrent = true;
        let body = '';
        req.setEncoding('latin1');
        req.on('data', (c: string) => { body += c; });
        req.on('end', () => {
          const answer = (): void => { arrived.push(`${req.url}:answered`); res.end(`${req.url}:${body}:`.padEnd(sizes[req.url!]!, '.')); };
          // A serial engine never sends /3 before /1 is answered: the bounded wait then gives up.
          if (req.url === '/1') void until(() => arrived.includes('/3'), '/3 sent on', 200).catch(() => undefined).then(answer);
          else answer();
        });
      });
      t.after(() => backend.close());
      const { port } = await startBalancer(t, engine, [backend.url]);
      const client = await RawClient.connect(port);
      t.after(() => client.close());
      client.write('GET /1 HTTP/1.1\r\nHost: x\r\n\r\nPOST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\nHost: x\r\n\r\n');
      const responses = await client.responses(3);
      assert.deepEqual(responses.map((r) => r.status), [200, 200, 200]);
      assert.deepEqual(responses.map((r) => r.body.toString().split(':').slice(0, 2).join(':')), ['/1:', '/2:abc', '/3:']);
      assert.deepEqual(responses.map((r) => r.body.length), [100_000, 7, 1000]);
      t.diagnostic(`the backend saw ${arrived.join(' ')}: ${concurrent ? 'the later requests were sent on while /1 waited' : 'one request at a time'}`);
    });

    it(`at most ${MAX_PIPELINED} of a connection's pipelined requests run at once; the rest wait their turn and are answered in order`, async (t) => {
      const held: ServerResponse[] = [];
      let holding = true;
      let most = 0;
      const backend = await startBackend('held', (req, res) => {
        req.resume();
        if (!holding) { res.end(req.url); return; }
        held.push(res);
        most = Math.max(most, held.length);
      });
      t.after(() => backend.close());
      const balancer = await startBalancer(t, engine, [backend.url]);
      const client = await RawClient.connect(balancer.port);
      t.after(() => client.close());
      const count = 3 * MAX_PIPELINED;
      client.write(Array.from({ length: count }, (_, i) => `GET /${i} HTTP/1.1\r\nHost: x\r\n\r\n`).join(''));
      await until(() => held.length === MAX_PIPELINED, `${MAX_PIPELINED} requests held by the backend`);
      assert.equal(await settled(() => held.length), MAX_PIPELINED, 'the others wait in the balancer, not at the backend');
      holding = false;
      for (const res of held.splice(0)) res.end(res.req.url);
      const responses = await client.responses(count);
      assert.deepEqual(responses.map((r) => r.body.toString()), Array.from({ length: count }, (_, i) => `/${i}`));
      assert.equal(most, MAX_PIPELINED);
      await until(() => idle(balancer), 'the balancer idle');
    });
  });

  describe(`answers the balancer makes (${engine})`, () => {
    it('a request answered at once (503: no backend available) keeps its connection: the next requests on it are answered too, sent apart or pipelined', async (t) => {
      const balancer = await startBalancer(t, engine, ['http://127.0.0.1:9']);
      for (const backend of balancer.lb.pool.backends) balancer.lb.pool.setHealth(backend, false);
      const client = await RawClient.connect(balancer.port);
      t.after(() => client.close());
      client.write('GET /1 HTTP/1.1\r\nHost: x\r\n\r\n');
      const [first] = await client.responses(1);
      assert.equal(first!.status, 503);
      client.write('GET /2 HTTP/1.1\r\nHost: x\r\n\r\nGET /3 HTTP/1.1\r\nHost: x\r\n\r\n');
      const all = await client.responses(3);
      assert.deepEqual(all.map((r) => r.status), [503, 503, 503]);
      assert.doesNotMatch(client.received.toString('latin1'), /connection: close/i);
    });
  });

  describe(`tunnels (${engine})`, () => {
    it('an Upgrade answered 101 becomes a tunnel: the 101 head, then bytes both ways, bytes sent with the request included', async (t) => {
      const backend = await tunnelBackend(t);
      const balancer = await startBalancer(t, engine, [backend.url]);
      const client = await RawClient.connect(balancer.port);
      t.after(() => client.close());
      client.write(`${UPGRADE}early`);
      await client.until((b) => b.toString('latin1').endsWith('helloEARLY'));
      const text = client.received.toString('latin1');
      assert.match(text, /^HTTP\/1\.1 101 /);
      const head = text.slice(0, text.indexOf('\r\n\r\n'));
      assert.match(head, /\r\nupgrade: test(\r\n|$)/i);
      assert.match(head, /\r\nconnection: upgrade(\r\n|$)/i);
      client.write('ping');
      await client.until((b) => b.toString('latin1').endsWith('PING'));
      assert.equal(backend.requests.length, 1);
      assert.equal(backend.requests[0]!.target, '/ws');
    });

    it('a tunnel closed by either side closes the other, and leaves no count behind', async (t) => {
      const backend = await tunnelBackend(t);
      const balancer = await startBalancer(t, engine, [backend.url]);
      const byClient = await RawClient.connect(balancer.port);
      byClient.write(UPGRADE);
      await byClient.until((b) => b.toString('latin1').endsWith('hello'));
      assert.equal(balancer.lb.pool.backends[0]!.inFlight, 1, 'an open tunnel is in flight');
      byClient.close();
      await whenClosed(backend.requests[0]!.socket);
      const byBackend = await RawClient.connect(balancer.port);
      byBackend.write(UPGRADE);
      await byBackend.until((b) => b.toString('latin1').endsWith('hello'));
      backend.requests[1]!.socket.end();
      await byBackend.closed;
      await until(() => balancer.lb.inFlight === 0 && balancer.lb.pool.backends[0]!.inFlight === 0, 'the tunnels counted out');
    });

    it('a backend that refuses the upgrade: its answer is relayed as a response', async (t) => {
      const backend = await startRawBackend((req) => { req.socket.write('HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno'); });
      t.after(() => backend.close());
      const { port } = await startBalancer(t, engine, [backend.url]);
      const client = await RawClient.connect(port);
      t.after(() => client.close());
      client.write(UPGRADE);
      const [response] = await client.responses(1);
      assert.deepEqual([response!.status, response!.body.toString()], [403, 'no']);
    });

    it('an Upgrade with no backend available gets 503 with Retry-After, as any request', async (t) => {
      const backend = await tunnelBackend(t);
      const { lb, port } = await startBalancer(t, engine, [backend.url]);
      lb.pool.setHealth(lb.pool.backends[0]!, false, 'test');
      const client = await RawClient.connect(port);
      t.after(() => client.close());
      client.write(UPGRADE);
      const [response] = await client.responses(1);
      assert.equal(response!.status, 503);
      assert.match(values(response!.headers, 'retry-after')[0] ?? '', /^\d+$/);
      assert.equal(backend.requests.length, 0);
    });

    it('tunnels leave the proxy\'s counts: 200 upgrades opened and closed, then nothing active, retrying or in flight', async (t) => {
      const backend = await tunnelBackend(t);
      const balancer = await startBalancer(t, engine, [backend.url]);
      for (let batch = 0; batch < 20; batch++) {
        await Promise.all(Array.from({ length: 10 }, async (_, i) => {
          const client = await RawClient.connect(balancer.port);
          client.write(UPGRADE);
          await client.until((b) => b.toString('latin1').endsWith('hello'));
          if ((batch + i) % 2 === 0) client.close();
          else client.socket.end();
          await client.closed;
        }));
      }
      await Promise.all(backend.requests.map((r) => whenClosed(r.socket)));
      assert.equal(backend.requests.length, 200);
      await until(() => idle(balancer), 'the counts back to zero', 400).catch(() => undefined);
      assert.deepEqual(counts(balancer), { inFlight: 0, active: 0, retrying: 0, backends: [0] });
    });
  });
}
