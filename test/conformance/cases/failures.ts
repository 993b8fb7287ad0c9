import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { startBackend } from '../../helpers/backend.js';
import { get, whenClosed } from '../../helpers/http.js';
import { startBalancer, until, type EngineName } from '../../helpers/in-process.js';
import { startRawBackend } from '../../helpers/raw-backend.js';
import { RawClient } from '../../helpers/raw-client.js';

import { big, hanging, holding, refusing } from '../backends.js';

export function failureCases(engine: EngineName): void {
  describe(`timeouts (${engine})`, () => {
    it('PROXY_TIMEOUT: no response head in time is 504, and the backend\'s connection is closed', async (t) => {
      const backend = await hanging(t);
      const { url } = await startBalancer(t, engine, [backend.url], { PROXY_TIMEOUT: '200ms' });
      const response = await get(url);
      assert.equal(response.status, 504);
      assert.equal(backend.requests.length, 1);
      await whenClosed(backend.requests[0]!.socket);
    });

    it('CLIENT_BODY_TIMEOUT: a client that stops sending its body gets 408 and the connection closes', async (t) => {
      const backend = await startBackend('reader', (req, res) => { req.resume(); req.on('end', () => res.end('whole')); });
      t.after(() => backend.close());
      const { port } = await startBalancer(t, engine, [backend.url], { CLIENT_BODY_TIMEOUT: '200ms' });
      const client = await RawClient.connect(port);
      t.after(() => client.close());
      client.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789');
      const [response] = await client.responses(1);
      assert.equal(response!.status, 408);
      await client.closed;
    });

    it('CLIENT_SEND_TIMEOUT: a client that takes none of its response is cut, and so is the backend\'s transfer', async (t) => {
      const backend = await big(t, 256 * 1024 * 1024);
      const { port } = await startBalancer(t, engine, [backend.url], { CLIENT_SEND_TIMEOUT: '200ms' });
      const client = connect(port, '127.0.0.1');
      client.on('error', () => undefined);
      t.after(() => client.destroy());
      client.pause();
      client.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
      await backend.nextRequest();
      assert.equal(await backend.cutEarly(), true, 'the backend\'s response was cut before it was all written');
      await whenClosed(client);
    });

    it('TUNNEL_IDLE_TIMEOUT: a tunnel with no traffic either way is closed on both sides', async (t) => {
      const backend = await startRawBackend((req) => {
        req.socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n');
        req.socket.on('data', (d: Buffer) => req.socket.write(d));
      });
      t.after(() => backend.close());
      // Long enough for a busy machine to relay the ping before the tunnel counts as idle.
      const { port } = await startBalancer(t, engine, [backend.url], { TUNNEL_IDLE_TIMEOUT: '1s' });
      const client = await RawClient.connect(port);
      t.after(() => client.close());
      // The ping goes with the request (sent on once the backend agrees): traffic from the first moment.
      client.write('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\nping');
      await client.until((b) => b.toString('latin1').endsWith('ping'));
      await client.closed;
      await whenClosed(backend.requests[0]!.socket);
      assert.match(client.received.toString('latin1'), /^HTTP\/1\.1 101 [^\r]*\r\n[^]*\r\n\r\nping$/);
    });
  });

  describe(`errors to statuses (${engine})`, () => {
    it('connection refused → 502', async (t) => {
      const { url } = await startBalancer(t, engine, [await refusing()]);
      assert.equal((await get(url)).status, 502);
    });

    it('reset before any response → 502', async (t) => {
      const backend = await startRawBackend((req) => req.socket.destroy());
      t.after(() => backend.close());
      const { url } = await startBalancer(t, engine, [backend.url]);
      assert.equal((await get(url)).status, 502);
      assert.equal(backend.requests.length, 1);
    });

    it('reset in the middle of the response body → the client\'s connection is cut (its status line already went)', async (t) => {
      const backend = await startRawBackend((req) => {
        req.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n0123456789', () => req.socket.destroy());
      });
      t.after(() => backend.close());
      const { port } = await startBalancer(t, engine, [backend.url]);
      const client = await RawClient.connect(port);
      t.after(() => client.close());
      client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await client.closed;
      const text = client.received.toString('latin1');
      assert.match(text, /^HTTP\/1\.1 200 /);
      assert.ok(text.endsWith('0123456789') || !text.includes('502'), 'no second status line');
      assert.ok(text.length - text.indexOf('\r\n\r\n') - 4 < 100000, 'the body is short: the client can tell it was cut');
    });

    it('a response that is not HTTP → 502', async (t) => {
      const backend = await startRawBackend((req) => { req.socket.end('this is not http\r\n\r\n'); });
      t.after(() => backend.close());
      const { url } = await startBalancer(t, engine, [backend.url]);
      assert.equal((await get(url)).status, 502);
    });

    it('no backend available → 503 with Retry-After', async (t) => {
      const backend = await startBackend('down');
      t.after(() => backend.close());
      const { lb, url } = await startBalancer(t, engine, [backend.url]);
      lb.pool.setHealth(lb.pool.backends[0]!, false, 'test');
      const response = await get(url);
      assert.equal(response.status, 503);
      assert.match(String(response.headers['retry-after']), /^\d+$/);
      assert.equal(backend.requests.length, 0);
    });

    it('every backend full and the queue full → 503 with Retry-After at once', async (t) => {
      const backend = await holding(t);
      const { url } = await startBalancer(t, engine, [backend.url], { BACKEND_MAX_REQUESTS: '1', QUEUE_SIZE: '0' });
      const first = get(`${url}/1`);
      await backend.nextRequest();
      const refused = await get(`${url}/2`);
      assert.equal(refused.status, 503);
      assert.match(String(refused.headers['retry-after']), /^\d+$/);
      backend.release();
      assert.equal((await first).status, 200);
      assert.deepEqual(backend.requests.map((r) => r.url), ['/1']);
    });

    it('QUEUE_TIMEOUT: a request that waits too long for a backend with room → 503, and never reaches it', async (t) => {
      const backend = await holding(t);
      const { lb, url } = await startBalancer(t, engine, [backend.url], { BACKEND_MAX_REQUESTS: '1', QUEUE_SIZE: '1', QUEUE_TIMEOUT: '200ms' });
      const first = get(`${url}/1`);
      await backend.nextRequest();
      const waited = await get(`${url}/2`);
      assert.equal(waited.status, 503);
      assert.equal((await lb.processCounts()).queued, 0);
      backend.release();
      assert.equal((await first).status, 200);
      await until(() => lb.inFlight === 0, 'the balancer idle');
      assert.deepEqual(backend.requests.map((r) => r.url), ['/1']);
    });
  });
}
