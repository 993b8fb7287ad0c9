import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { get } from '../../helpers/http.js';
import { startBalancer, type EngineName } from '../../helpers/in-process.js';
import { rawResponse, startRawBackend } from '../../helpers/raw-backend.js';
import { RawClient } from '../../helpers/raw-client.js';

export function backendConnectionCases(engine: EngineName): void {
  describe(`backend connections (${engine})`, () => {
    it('sequential requests reuse one kept-alive backend connection', async (t) => {
      const backend = await startRawBackend((req) => { req.socket.write(rawResponse(200, req.target)); });
      t.after(() => backend.close());
      const { url } = await startBalancer(t, engine, [backend.url]);
      for (let i = 0; i < 20; i++) assert.equal((await get(`${url}/${i}`)).body, `/${i}`);
      assert.equal(backend.connections, 1);
    });

    it('a backend that answers Connection: close is given the next request on a new connection, and nobody sees an error', async (t) => {
      const backend = await startRawBackend((req) => { req.socket.end(rawResponse(200, req.target, ['Connection: close'])); });
      t.after(() => backend.close());
      const { url } = await startBalancer(t, engine, [backend.url]);
      const bodies: string[] = [];
      for (let i = 0; i < 5; i++) bodies.push((await get(`${url}/${i}`)).body);
      assert.deepEqual(bodies, ['/0', '/1', '/2', '/3', '/4']);
      assert.equal(backend.connections, 5);
    });

    it('a 1xx informational answer (103 Early Hints) does not end the exchange: the client gets the final response', async (t) => {
      const backend = await startRawBackend((req) => {
        req.socket.write('HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n');
        req.socket.write(rawResponse(200, 'final'));
      });
      t.after(() => backend.close());
      const { port } = await startBalancer(t, engine, [backend.url]);
      const client = await RawClient.connect(port);
      t.after(() => client.close());
      client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await client.until((b) => b.toString('latin1').endsWith('final'), 3000);
      const text = client.received.toString('latin1');
      assert.match(text, /HTTP\/1\.1 200 [^]*\r\n\r\nfinal$/);
      t.diagnostic(text.startsWith('HTTP/1.1 103') ? 'the 103 was relayed' : 'the 103 was dropped');
    });
  });

  describe(`request targets (${engine})`, () => {
    it('an HTTP/1.1 request without Host is 400 and never forwarded', async (t) => {
      const backend = await startRawBackend((req) => { req.socket.write(rawResponse(200, 'x')); });
      t.after(() => backend.close());
      const { port } = await startBalancer(t, engine, [backend.url]);
      const client = await RawClient.connect(port);
      t.after(() => client.close());
      client.write('GET / HTTP/1.1\r\n\r\n');
      await client.until((b) => b.includes('\r\n\r\n'), 3000);
      assert.match(client.received.toString('latin1'), /^HTTP\/1\.1 400 /);
      assert.equal(backend.requests.length, 0);
    });

    it('an absolute-form target is forwarded in origin form, or refused with 400: never passed on as is', async (t) => {
      const backend = await startRawBackend((req) => { req.socket.write(rawResponse(200, req.target)); });
      t.after(() => backend.close());
      const { port } = await startBalancer(t, engine, [backend.url]);
      const client = await RawClient.connect(port);
      t.after(() => client.close());
      client.write('GET http://app.test/path?q=1 HTTP/1.1\r\nHost: app.test\r\n\r\n');
      await client.until((b) => b.includes('\r\n\r\n'), 3000);
      const text = client.received.toString('latin1');
      t.diagnostic(text.split('\r\n')[0]!);
      assert.ok(/^HTTP\/1\.1 400 /.test(text) || backend.requests.every((r) => r.target === '/path?q=1'), text.split('\r\n')[0]);
    });
  });
}
