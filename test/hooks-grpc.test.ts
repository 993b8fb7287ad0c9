// @engine-independent: gRPC calls come over HTTP/2 (a TLS listener), which means the node engine
// A gRPC call's error answer goes through onResponse too, and waits for its promise.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, constants } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createCa } from './helpers/certs.js';
import { startBalancer } from './helpers/in-process.js';
import { refusing } from './conformance/backends.js';

const MODULE = `
export async function onResponse(ctx, head) {
  await new Promise((resolve) => setTimeout(resolve, 5));
  if (head.error !== undefined) head.headers.set('x-why', head.error + ' ' + head.status);
}
`;

test('a gRPC call\'s error answer goes through an asynchronous onResponse: its fields in the Trailers-Only answer', async (t) => {
  const ca = createCa();
  const cert = ca.issue('lb-hooks-grpc', ['localhost', '127.0.0.1']);
  const dir = mkdtempSync(join(tmpdir(), 'lb-hooks-grpc-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'why.mjs'), MODULE);
  const { port } = await startBalancer(t, 'node', [`${await refusing()}|proto=h2c`], {
    TLS_CERT_FILE: cert.certFile, TLS_KEY_FILE: cert.keyFile, HOOKS_MODULE: join(dir, 'why.mjs'), RETRIES: '0',
  });
  const session = connect(`https://127.0.0.1:${port}`, { ca: ca.cert });
  t.after(() => session.close());
  const stream = session.request({ ':method': 'POST', ':path': '/lbtest.Echo/Unary', 'content-type': 'application/grpc', te: 'trailers' });
  stream.end(Buffer.from([0, 0, 0, 0, 0]));
  const [headers, flags] = await new Promise<[Record<string, unknown>, number]>((resolve) => stream.on('response', (h, f) => resolve([h, f])));
  stream.resume();
  assert.deepEqual([headers[':status'], headers['grpc-status'], headers['x-why']], [200, '14', 'LB_ERR_UPSTREAM_CONNECT 502']);
  assert.notEqual(flags & constants.NGHTTP2_FLAG_END_STREAM, 0, 'still Trailers-Only: the HEADERS frame ends the stream');
});
