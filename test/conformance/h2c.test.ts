// @engine-independent: the cases run on both engines, once each, in this file
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { describe, it } from 'node:test';
import { MiB, PATTERN, pump, sha } from '../helpers/pattern.js';
import { startBackend } from '../helpers/backend.js';
import { whenClosed } from '../helpers/http.js';
import { startBalancer, until, type EngineName } from '../helpers/in-process.js';
import { hanging, refusing } from './backends.js';

/**
 * The proxy's rules for HTTP/2 clients with prior knowledge (h2c) on the plain listener, on both
 * engines. The shared `runConformance` cases speak HTTP/1.1 byte by byte; these are the ones
 * that apply to an HTTP/2 client: forwarding, streaming both ways, failure answers, cancellation,
 * the session's idle timeout.
 */

type Context = { after(fn: () => unknown): void };

function client(port: number, t: Context): ClientHttp2Session {
  const session = connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  t.after(() => session.destroy());
  return session;
}

async function read(stream: ClientHttp2Stream): Promise<{ headers: IncomingHttpHeaders; body: Buffer }> {
  const [headers] = await once(stream, 'response') as [IncomingHttpHeaders];
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return { headers, body: Buffer.concat(chunks) };
}

for (const engine of ['fast', 'node'] as const satisfies readonly EngineName[]) {
  describe(`h2c clients (${engine})`, () => {
    it('forwarding: :authority becomes Host, pseudo-headers go, X-Forwarded-* and Forwarded are set, the response carries X-Request-Id', async (t) => {
      const echo = await startBackend('echo', (req, res) => {
        req.resume();
        res.setHeader('set-cookie', ['a=1', 'b=2']);
        res.end(JSON.stringify({ version: req.httpVersion, method: req.method, url: req.url, rawHeaders: req.rawHeaders }));
      });
      t.after(() => echo.close());
      const { port } = await startBalancer(t, engine, [echo.url]);
      const session = client(port, t);
      const res = await read(session.request({ ':method': 'GET', ':path': '/p?q=1', ':authority': 'app.test', cookie: ['a=1', 'b=2'], 'x-custom': 'v' }));
      assert.equal(res.headers[':status'], 200);
      assert.deepEqual(res.headers['set-cookie'], ['a=1', 'b=2']);
      assert.ok(res.headers['x-request-id']);
      const seen = JSON.parse(res.body.toString()) as { version: string; method: string; url: string; rawHeaders: string[] };
      assert.deepEqual([seen.version, seen.method, seen.url], ['1.1', 'GET', '/p?q=1']);
      const value = (name: string): string[] => seen.rawHeaders.filter((_, i) => i % 2 === 1 && seen.rawHeaders[i - 1]!.toLowerCase() === name);
      assert.deepEqual(value('host'), ['app.test']);
      assert.deepEqual(value('cookie'), ['a=1; b=2']);
      assert.deepEqual(value('x-custom'), ['v']);
      assert.deepEqual(value('x-forwarded-for'), ['127.0.0.1']);
      assert.deepEqual(value('x-forwarded-proto'), ['http']);
      assert.deepEqual(value('x-forwarded-host'), ['app.test']);
      assert.match(value('forwarded')[0] ?? '', /for=127\.0\.0\.1;host="app.test";proto=http/);
      assert.ok(!seen.rawHeaders.some((h, i) => i % 2 === 0 && h.startsWith(':')), 'no pseudo-headers');
    });

    it('streaming: 4 MiB up and 4 MiB down, whole and in order, with and without content-length', async (t) => {
      const backend = await startBackend('s', (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          res.setHeader('x-got', sha(Buffer.concat(chunks)));
          pump(res, 4 * MiB, { written: 0 });
        });
      });
      t.after(() => backend.close());
      const { port } = await startBalancer(t, engine, [backend.url]);
      const session = client(port, t);
      for (const headers of [{}, { 'content-length': String(4 * MiB) }]) {
        const stream = session.request({ ':method': 'POST', ':path': '/up', ...headers });
        pump(stream, 4 * MiB, { written: 0 });
        const res = await read(stream);
        assert.equal(res.headers['x-got'], sha(PATTERN));
        assert.equal(res.body.length, 4 * MiB);
        assert.equal(sha(res.body), sha(PATTERN));
      }
    });

    it('failures: a backend that refuses is 502, one that never answers is 504 at PROXY_TIMEOUT; the session carries on', async (t) => {
      const down = await refusing();
      const silent = await hanging(t);
      const refused = await startBalancer(t, engine, [down]);
      const session = client(refused.port, t);
      const res = await read(session.request({ ':method': 'GET', ':path': '/' }));
      assert.equal(res.headers[':status'], 502);
      assert.match(res.body.toString(), /^502 /);
      const slow = await startBalancer(t, engine, [silent.url], { PROXY_TIMEOUT: '200ms' });
      const other = client(slow.port, t);
      for (let i = 0; i < 2; i++) assert.equal((await read(other.request({ ':method': 'GET', ':path': `/${i}` }))).headers[':status'], 504);
    });

    it('a stream the client cancels aborts its request to the backend', async (t) => {
      const upstream: { socket?: import('node:net').Socket } = {};
      const backend = await startBackend('h', (req) => { upstream.socket = req.socket; });
      t.after(() => backend.close());
      const { port, lb } = await startBalancer(t, engine, [backend.url], { PROXY_TIMEOUT: '1h' });
      const session = client(port, t);
      const stream = session.request({ ':method': 'GET', ':path': '/hang' });
      stream.on('error', () => undefined);
      await until(() => upstream.socket !== undefined, 'the request reached the backend');
      const closed = whenClosed(upstream.socket!);
      stream.close(constants.NGHTTP2_CANCEL);
      await closed;
      await until(() => lb.inFlight === 0, 'nothing in flight');
    });

    it('a session with no frame either way for CLIENT_IDLE_TIMEOUT gets GOAWAY and closes', async (t) => {
      const backend = await startBackend('b');
      t.after(() => backend.close());
      const { port } = await startBalancer(t, engine, [backend.url], { CLIENT_IDLE_TIMEOUT: '300ms' });
      const session = client(port, t);
      assert.equal((await read(session.request({ ':method': 'GET', ':path': '/' }))).body.toString(), 'b');
      const goaway = once(session, 'goaway');
      await goaway;
      if (!session.closed) await once(session, 'close');
    });
  });
}
