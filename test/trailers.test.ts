import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, request, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { createCa } from './helpers/certs.js';
import { startH2Backend } from './helpers/h2-backend.js';
import { startBalancer, type EngineName } from './helpers/in-process.js';

const ca = createCa();
const cert = ca.issue('lb-trailers', ['localhost', '127.0.0.1']);
type Context = { after(fn: () => unknown): void };

/**
 * The engine the suite runs (TEST_ENGINE, as for the CLI; unset, the default). With TLS the
 * listeners are node:http's on either engine, so the HTTP/2 client cases run the same on both.
 */
const engine = (process.env.TEST_ENGINE ?? 'fast') as EngineName;

/** An HTTP/1.1 backend that answers chunked, with a trailer after the body. */
async function chunkedWithTrailer(t: Context): Promise<string> {
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' });
    res.write('body');
    res.addTrailers({ 'x-checksum': 'h1' });
    res.end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => new Promise((resolve) => server.close(resolve)));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** GETs over HTTP/1.1, and returns the body and the trailers. */
function h1Get(port: number, headers: Record<string, string>): Promise<{ body: string; trailers: Record<string, string | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = request({ port, host: '127.0.0.1', agent: false, headers }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ body, trailers: res.trailers }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** GETs over HTTP/2 with TLS, and returns the body and the trailers. */
async function h2Get(t: Context, port: number): Promise<{ body: string; trailers: IncomingHttpHeaders | undefined }> {
  const session = connect(`https://127.0.0.1:${port}`, { ca: ca.cert });
  t.after(() => session.close());
  const stream = session.request({ ':path': '/' });
  let body = '';
  let trailers: IncomingHttpHeaders | undefined;
  stream.setEncoding('latin1');
  stream.on('data', (c: string) => { body += c; });
  stream.on('trailers', (h) => { trailers = h; });
  await once(stream, 'end');
  return { body, trailers };
}

const tls = { TLS_CERT_FILE: cert.certFile, TLS_KEY_FILE: cert.keyFile };

test('an HTTP/1.1 chunked backend\'s trailers reach an HTTP/1.1 client that sent TE: trailers, and no other', async (t) => {
  const { port } = await startBalancer(t, engine, [await chunkedWithTrailer(t)]);
  assert.deepEqual(await h1Get(port, { te: 'trailers' }), { body: 'body', trailers: { 'x-checksum': 'h1' } });
  assert.deepEqual(await h1Get(port, {}), { body: 'body', trailers: {} });
});

test('request trailers: an HTTP/1.1 client\'s chunked trailers reach an HTTP/1.1 backend after the body', {
  todo: engine === 'node' ? 'engine drift: undici sends no request trailers to an HTTP/1.1 backend' : false,
}, async (t) => {
  let seen: { body: string; trailers: Record<string, string | undefined>; trailer: string | undefined } | undefined;
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('latin1');
    req.on('data', (c: string) => { body += c; });
    req.on('end', () => {
      seen = { body, trailers: req.trailers, trailer: req.headers.trailer };
      res.end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => new Promise((resolve) => server.close(resolve)));
  const { port } = await startBalancer(t, engine, [`http://127.0.0.1:${(server.address() as AddressInfo).port}`]);
  const req = request({ port, host: '127.0.0.1', agent: false, method: 'POST', headers: { trailer: 'x-digest' } });
  req.write('up');
  req.addTrailers({ 'x-digest': 'd1' });
  req.end();
  const [res] = await once(req, 'response') as [import('node:http').IncomingMessage];
  res.resume();
  assert.equal(res.statusCode, 200);
  assert.deepEqual(seen, { body: 'up', trailers: { 'x-digest': 'd1' }, trailer: undefined });
});

test('an HTTP/1.1 chunked backend\'s trailers reach an HTTP/2 client', async (t) => {
  const { port } = await startBalancer(t, engine, [await chunkedWithTrailer(t)], tls);
  const { body, trailers } = await h2Get(t, port);
  assert.equal(body, 'body');
  assert.equal(trailers?.['x-checksum'], 'h1');
});

test('an HTTP/2 backend\'s trailers reach an HTTP/2 client, hop-by-hop ones dropped', async (t) => {
  const backend = await startH2Backend(t, 'a', (stream) => {
    stream.respond({ ':status': 200 }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'x-checksum': 'h2', 'grpc-status': '0' }));
    stream.end('body');
  });
  const { port } = await startBalancer(t, engine, [backend.entry], tls);
  const { body, trailers } = await h2Get(t, port);
  assert.equal(body, 'body');
  assert.deepEqual([trailers?.['x-checksum'], trailers?.['grpc-status']], ['h2', '0']);
});

test('request trailers: an HTTP/1.1 client\'s chunked trailers reach an HTTP/2 backend after the body', async (t) => {
  let seen: { body: string; trailers: IncomingHttpHeaders | undefined } | undefined;
  const backend = await startH2Backend(t, 'a', (stream) => {
    let body = '';
    let trailers: IncomingHttpHeaders | undefined;
    stream.setEncoding('latin1');
    stream.on('data', (c: string) => { body += c; });
    stream.on('trailers', (h) => { trailers = h; });
    stream.on('end', () => {
      seen = { body, trailers };
      stream.respond({ ':status': 200 });
      stream.end();
    });
  });
  const { port } = await startBalancer(t, engine, [backend.entry]);
  const req = request({ port, host: '127.0.0.1', agent: false, method: 'POST', headers: { trailer: 'x-digest' } });
  req.write('up');
  req.addTrailers({ 'x-digest': 'd1' });
  req.end();
  const [res] = await once(req, 'response') as [import('node:http').IncomingMessage];
  res.resume();
  assert.equal(res.statusCode, 200);
  assert.equal(seen?.body, 'up');
  assert.equal(seen?.trailers?.['x-digest'], 'd1');
  assert.equal(backend.streams[0]!.headers.trailer, undefined, 'Trailer (hop-by-hop) itself is not sent');
});
