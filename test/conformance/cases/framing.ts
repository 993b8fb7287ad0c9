import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startBackend } from '../../helpers/backend.js';
import { startBalancer, type EngineName } from '../../helpers/in-process.js';
import { RawClient } from '../../helpers/raw-client.js';

export function framingCases(engine: EngineName): void {
  describe(`request framing (${engine})`, () => {
    it('an HTTP/2.0 request line over HTTP/1.1 gets 505', async (t) => {
      const backend = await startBackend('a');
      t.after(() => backend.close());
      const { port } = await startBalancer(t, engine, [backend.url]);
      const client = await RawClient.connect(port);
      t.after(() => client.close());
      client.write('GET / HTTP/2.0\r\nHost: x\r\n\r\n');
      await client.until((b) => b.includes('\r\n\r\n'), 2000);
      assert.match(client.received.toString('latin1'), /^HTTP\/1\.1 505 /);
      assert.equal(backend.requests.length, 0);
    });

    it('a complete request followed by garbage gets its response, then 400', async (t) => {
      const backend = await startBackend('a');
      t.after(() => backend.close());
      const { port } = await startBalancer(t, engine, [backend.url]);
      const client = await RawClient.connect(port);
      t.after(() => client.close());
      client.write('GET /first HTTP/1.1\r\nHost: x\r\n\r\nthis is not a request\r\n\r\n');
      await client.until((b) => (b.toString('latin1').match(/HTTP\/1\.1 \d{3} /g) ?? []).length >= 2, 2000);
      const text = client.received.toString('latin1');
      assert.match(text, /^HTTP\/1\.1 200 [^]*\r\n\r\na/);
      assert.match(text.slice(text.indexOf('\r\n\r\na') + 5), /^HTTP\/1\.1 400 /);
      assert.deepEqual(backend.requests.map((r) => r.url), ['/first']);
    });
  });
}
