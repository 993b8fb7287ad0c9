import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { request, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { MiB, PATTERN, pump, sha } from '../../helpers/pattern.js';
import { startBackend } from '../../helpers/backend.js';
import { settled, startBalancer, type EngineName } from '../../helpers/in-process.js';



async function readAll(res: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of res) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}


export function streamingCases(engine: EngineName): void {
  describe(`streaming (${engine})`, () => {
    it('a 16 MiB request body with Content-Length and a 16 MiB response body arrive byte for byte', async (t) => {
      const body = Buffer.concat([PATTERN, PATTERN, PATTERN, PATTERN]);
      const backend = await startBackend('big', (req, res) => {
        const hash = createHash('sha256');
        let length = 0;
        req.on('data', (c: Buffer) => { hash.update(c); length += c.length; });
        req.on('end', () => {
          res.setHeader('x-got', `${length} ${hash.digest('hex')}`);
          res.setHeader('content-length', body.length);
          res.end(body);
        });
      });
      t.after(() => backend.close());
      const { port } = await startBalancer(t, engine, [backend.url]);
      const req = request({ host: '127.0.0.1', port, method: 'PUT', path: '/up', agent: false, headers: { 'content-length': body.length } });
      req.end(body);
      const [res] = await once(req, 'response') as [IncomingMessage];
      const got = await readAll(res);
      assert.equal(res.headers['x-got'], `${body.length} ${sha(body)}`, 'the backend got the request body whole');
      assert.equal(got.length, body.length);
      assert.equal(sha(got), sha(body), 'the client got the response body whole');
    });

    it('chunked both ways: a request body sent in 200 chunks arrives whole, and the backend\'s chunked answer arrives whole and chunked', async (t) => {
      const backend = await startBackend('echo', (req, res) => {
        res.setHeader('x-request-framing', req.headers['transfer-encoding'] ?? `length ${req.headers['content-length']}`);
        req.pipe(res); // no Content-Length: a chunked response
      });
      t.after(() => backend.close());
      const { port } = await startBalancer(t, engine, [backend.url]);
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/echo', agent: false });
      const sent: Buffer[] = [];
      for (let i = 0; i < 200; i++) {
        const chunk = PATTERN.subarray(i * 5000, i * 5000 + 1 + (i * 37) % 5000);
        sent.push(chunk);
        req.write(chunk);
      }
      req.end();
      const [res] = await once(req, 'response') as [IncomingMessage];
      const got = await readAll(res);
      assert.equal(res.headers['x-request-framing'], 'chunked');
      assert.equal(res.headers['transfer-encoding'], 'chunked');
      assert.equal(sha(got), sha(Buffer.concat(sent)));
    });

    it('backpressure down: a client that reads nothing holds the backend back (the balancer does not read the 256 MiB response on for it)', async (t) => {
      const total = 256 * MiB;
      const progress = { written: 0 };
      const backend = await startBackend('big', (req, res) => {
        req.resume();
        res.setHeader('content-length', total);
        pump(res, total, progress);
      });
      t.after(() => backend.close());
      const { port } = await startBalancer(t, engine, [backend.url]);
      const client = connect(port, '127.0.0.1');
      client.on('error', () => undefined);
      t.after(() => client.destroy());
      client.pause();
      client.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
      await backend.nextRequest();
      const held = await settled(() => progress.written);
      assert.ok(held < total / 4, `the backend wrote ${(held / MiB).toFixed(1)} MiB of 256 while the client read nothing`);
      let read = 0;
      client.on('data', (c: Buffer) => { read += c.length; });
      client.resume();
      await new Promise<void>((resolve) => client.on('data', () => { if (read > total) resolve(); }));
      assert.ok(read > total, 'and once the client reads, all of it arrives');
    });

    it('backpressure up: a backend that reads nothing holds the client\'s 256 MiB upload back', async (t) => {
      const total = 256 * MiB;
      const progress = { written: 0 };
      const backend = await startBackend('sink', (req) => { req.pause(); });
      t.after(() => backend.close());
      const { port } = await startBalancer(t, engine, [backend.url]);
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/up', agent: false, headers: { 'content-length': total } });
      req.on('error', () => undefined);
      t.after(() => req.destroy());
      pump(req, total, progress);
      const seen = await backend.nextRequest();
      const held = await settled(() => progress.written);
      assert.ok(held < total / 4, `the client wrote ${(held / MiB).toFixed(1)} MiB of 256 while the backend read nothing`);
      let read = 0;
      seen.on('data', (c: Buffer) => { read += c.length; });
      seen.resume();
      await once(seen, 'end');
      assert.equal(read, total, 'and once the backend reads, all of it arrives');
    });
  });
}
