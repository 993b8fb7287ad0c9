import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startBackend } from '../../helpers/backend.js';
import { startBalancer, type EngineName } from '../../helpers/in-process.js';
import { startRawBackend } from '../../helpers/raw-backend.js';
import { RawClient, values } from '../../helpers/raw-client.js';

type Context = { after(fn: () => unknown): void };

/** Answers `<method> <url> <body>`; counts what it was asked. */
async function echo(t: Context) {
  const backend = await startBackend('echo', (req, res) => {
    let body = '';
    req.setEncoding('latin1');
    req.on('data', (c: string) => { body += c; });
    req.on('end', () => {
      if (req.method === 'HEAD') { res.setHeader('content-length', 42); res.end(); return; }
      if (req.url === '/204') { res.statusCode = 204; res.end(); return; }
      res.end(`${req.method} ${req.url} ${body}`);
    });
  });
  t.after(() => backend.close());
  return backend;
}

async function client(t: Context, port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  t.after(() => c.close());
  return c;
}

/** Resolves once the client has a whole response or the connection closed, whichever first; a wait that is not an assertion. */
function firstResponse(c: RawClient): Promise<void> {
  return c.until((b) => b.includes('\r\n\r\n') && /^HTTP\/1\.1 \d{3} /.test(b.toString('latin1')), 3000);
}

export function protocolCases(engine: EngineName): void {
  describe(`client protocol (${engine})`, () => {
    it('HEAD and 204 responses carry no body, and the connection goes on serving the requests after them', async (t) => {
      const backend = await echo(t);
      const { port } = await startBalancer(t, engine, [backend.url]);
      const c = await client(t, port);
      c.write('HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /204 HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n');
      await c.until((b) => b.toString('latin1').endsWith('GET /after '));
      const text = c.received.toString('latin1');
      const heads = text.split('\r\n\r\n').slice(0, 3);
      assert.match(heads[0]!, /^HTTP\/1\.1 200 [^]*\r\ncontent-length: 42/i, 'HEAD: the backend\'s length, no body');
      assert.match(heads[1]!, /^HTTP\/1\.1 204 /);
      assert.ok(text.endsWith('\r\n\r\nGET /after '), 'the third response follows the bodiless ones at once');
    });

    it('Connection: close from the client: the response says so and the connection closes; an HTTP/1.0 client is not kept alive either', async (t) => {
      const backend = await echo(t);
      const { port } = await startBalancer(t, engine, [backend.url]);
      const closing = await client(t, port);
      closing.write('GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      await closing.closed;
      const [response] = await closing.responses(1).catch(() => [] as never);
      assert.equal(response?.status, 200);
      assert.deepEqual(values(response!.headers, 'connection').map((v) => v.toLowerCase()), ['close']);
      const old = await client(t, port);
      old.write('GET /old HTTP/1.0\r\nHost: x\r\n\r\n');
      await old.closed;
      assert.match(old.received.toString('latin1'), /^HTTP\/1\.[01] 200 [^]*GET \/old $/);
    });

    it('Expect: 100-continue: the client gets 100 Continue, sends its body, and the backend gets it', async (t) => {
      const backend = await echo(t);
      const { port } = await startBalancer(t, engine, [backend.url]);
      const c = await client(t, port);
      c.write('POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n');
      await c.until((b) => b.includes('\r\n\r\n'), 3000);
      assert.match(c.received.toString('latin1'), /^HTTP\/1\.1 100 Continue\r\n\r\n/);
      c.write('body');
      await c.until((b) => b.toString('latin1').endsWith('POST /e body'));
      assert.match(c.received.toString('latin1'), /\r\n\r\nHTTP\/1\.1 200 [^]*POST \/e body$/);
    });

    it('OPTIONS * is answered by the balancer itself, never forwarded', async (t) => {
      const backend = await echo(t);
      const { port } = await startBalancer(t, engine, [backend.url]);
      const c = await client(t, port);
      c.write('OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n');
      const [response] = await c.responses(1);
      assert.equal(response!.status, 200);
      assert.equal(backend.requests.length, 0);
    });

    it('request smuggling shapes are refused with 400 and never forwarded: Content-Length with Transfer-Encoding, two different Content-Lengths', async (t) => {
      const backend = await echo(t);
      const { port } = await startBalancer(t, engine, [backend.url]);
      for (const head of [
        'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
        'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nbodyy',
      ]) {
        const c = await client(t, port);
        c.write(head);
        await firstResponse(c);
        assert.match(c.received.toString('latin1'), /^HTTP\/1\.1 400 /, head.split('\r\n').slice(2, 4).join(' + '));
      }
      assert.equal(backend.requests.length, 0);
    });

    it('MAX_BODY_SIZE: a larger Content-Length is 413 and never forwarded; a larger chunked body is 413 too', async (t) => {
      const backend = await echo(t);
      const { port } = await startBalancer(t, engine, [backend.url], { MAX_BODY_SIZE: '1024' });
      const declared = await client(t, port);
      declared.write('POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 2048\r\n\r\n');
      await firstResponse(declared);
      assert.match(declared.received.toString('latin1'), /^HTTP\/1\.1 413 /);
      assert.equal(backend.requests.length, 0);
      const chunked = await client(t, port);
      chunked.write(`POST /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n${'x'.repeat(2048)}\r\n0\r\n\r\n`);
      await firstResponse(chunked);
      assert.match(chunked.received.toString('latin1'), /^HTTP\/1\.1 413 /);
    });

    it('Expect: 100-continue with a Content-Length over MAX_BODY_SIZE: 413 (or 417) at once, no 100 Continue, the body never asked for nor forwarded', async (t) => {
      const backend = await echo(t);
      const { port } = await startBalancer(t, engine, [backend.url], { MAX_BODY_SIZE: '1024' });
      const c = await client(t, port);
      // The head alone: a client that honours the expectation sends no body before a 100.
      c.write('POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\nExpect: 100-continue\r\n\r\n');
      await c.until((b) => /HTTP\/1\.1 [2-5]\d\d /.test(b.toString('latin1')));
      const text = c.received.toString('latin1');
      assert.match(text, /^HTTP\/1\.1 (413|417) /, `the first thing sent is the refusal, not a 100 Continue: ${text.slice(0, 80)}`);
      assert.doesNotMatch(text, /HTTP\/1\.1 100 /);
      assert.equal(backend.requests.length, 0);
    });

    it('MAX_HEADER_SIZE: a larger request head is 431 and never forwarded', async (t) => {
      const backend = await echo(t);
      const { port } = await startBalancer(t, engine, [backend.url], { MAX_HEADER_SIZE: '2KiB' });
      const c = await client(t, port);
      c.write(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'y'.repeat(4096)}\r\n\r\n`);
      await firstResponse(c);
      assert.match(c.received.toString('latin1'), /^HTTP\/1\.1 431 /);
      assert.equal(backend.requests.length, 0);
    });

    it('a response without framing (ended by the backend closing) arrives whole', async (t) => {
      const backend = await startRawBackend((req) => { req.socket.end('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end'); });
      t.after(() => backend.close());
      const { port } = await startBalancer(t, engine, [backend.url]);
      const c = await client(t, port);
      c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await c.until((b) => b.toString('latin1').includes('until the end'));
      const [response] = await c.responses(1).catch(async () => {
        await c.closed;
        return [] as never;
      });
      assert.equal(response?.body.toString() ?? c.received.toString('latin1').split('\r\n\r\n')[1], 'until the end');
    });

    it('an error response carries the request id, and goes to the client that sent it', async (t) => {
      const backend = await startRawBackend((req) => req.socket.destroy());
      t.after(() => backend.close());
      const { port } = await startBalancer(t, engine, [backend.url]);
      const c = await client(t, port);
      c.write('GET / HTTP/1.1\r\nHost: x\r\nX-Request-Id: err-1\r\n\r\n');
      const [response] = await c.responses(1);
      assert.equal(response!.status, 502);
      assert.deepEqual(values(response!.headers, 'x-request-id'), ['err-1']);
    });
  });

  describe(`stalls within bodies (${engine})`, () => {
    it('PROXY_TIMEOUT: a backend that stops in the middle of its body is cut, and so is the client', async (t) => {
      const backend = await startRawBackend((req) => { req.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst'); });
      t.after(() => backend.close());
      const { port } = await startBalancer(t, engine, [backend.url], { PROXY_TIMEOUT: '200ms' });
      const c = await client(t, port);
      c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await c.until(() => false, 3000);
      assert.match(c.received.toString('latin1'), /^HTTP\/1\.1 200 [^]*first$/);
      assert.equal(c.isClosed, true, 'the client is cut once the backend has stalled for PROXY_TIMEOUT');
    });

    it('PROXY_TIMEOUT: a backend that takes none of a request body → 504', async (t) => {
      const backend = await startBackend('sink', (req) => { req.pause(); });
      t.after(() => backend.close());
      const { port } = await startBalancer(t, engine, [backend.url], { PROXY_TIMEOUT: '200ms' });
      const c = await client(t, port);
      const total = 64 * 1024 * 1024;
      c.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${total}\r\n\r\n`);
      const chunk = Buffer.alloc(1024 * 1024, 120);
      const pump = (sent: number): void => {
        while (sent < total && !c.isClosed) {
          sent += chunk.length;
          if (!c.socket.write(chunk)) { c.socket.once('drain', () => pump(sent)); return; }
        }
      };
      pump(0);
      await c.until((b) => b.includes('\r\n\r\n'), 5000);
      assert.match(c.received.toString('latin1'), /^HTTP\/1\.1 504 /);
    });
  });
}
