import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { request } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { startBackend } from './helpers/backend.js';
import { startInProcess } from './helpers/in-process-lb.js';
import { startLb } from './helpers/lb.js';

const MiB = 1024 * 1024;
const TOTAL = 400 * MiB;

/** 400 MiB of deterministic, non-repeating-per-chunk bytes, generated as they are read. */
function pattern(total: number): Readable {
  const chunk = Buffer.alloc(256 * 1024);
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) { this.push(null); return; }
      const n = Math.min(chunk.length, total - sent);
      chunk.writeUInt32BE(sent / chunk.length, 0); // every chunk differs, so reordering shows
      sent += n;
      this.push(Buffer.from(chunk.subarray(0, n)));
    },
  });
}

function hashOf(total: number): Promise<string> {
  const hash = createHash('sha256');
  return pipeline(pattern(total), hash).then(() => hash.digest('hex'));
}

// Stays on the CLI: the point is the balancer's own peak RSS, which only a separate process shows.
test('400 MiB up and 400 MiB down stream through byte-exact, never buffered whole by the balancer', async (t) => {
  const backend = await startBackend('stream', (req, res) => {
    if (req.url === '/download') {
      res.setHeader('content-type', 'application/octet-stream');
      void pipeline(pattern(TOTAL), res).catch(() => undefined);
      return;
    }
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (c: Buffer) => { bytes += c.length; hash.update(c); });
    req.on('end', () => res.end(JSON.stringify({ bytes, sha256: hash.digest('hex') })));
  });
  t.after(() => backend.close());
  const lb = await startLb({ BACKENDS: backend.url });
  t.after(() => lb.stop());
  const expected = await hashOf(TOTAL);

  // Upload: chunked, no Content-Length, so nothing can pre-size a buffer.
  const up = request(`${lb.url}/upload`, { method: 'POST', agent: false });
  const upResponse = once(up, 'response');
  try {
    await pipeline(pattern(TOTAL), up);
  } catch (err) {
    throw new Error(`upload failed: ${(err as Error).message}\n${lb.stdout()}`);
  }
  const [upRes] = await upResponse as [import('node:http').IncomingMessage];
  let upBody = '';
  for await (const c of upRes) upBody += c;
  assert.equal(upRes.statusCode, 200);
  assert.deepEqual(JSON.parse(upBody), { bytes: TOTAL, sha256: expected });

  const down = request(`${lb.url}/download`, { agent: false }).end();
  const [downRes] = await once(down, 'response') as [import('node:http').IncomingMessage];
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const c of downRes) { bytes += (c as Buffer).length; hash.update(c as Buffer); }
  assert.equal(bytes, TOTAL);
  assert.equal(hash.digest('hex'), expected);

  const peak = lb.peakRssMiB();
  // 400 MiB went each way: a balancer that buffered bodies would hold hundreds of MiB. The margin is
  // for a loaded machine's GC, not for buffering (about 110 MiB measured).
  assert.ok(peak < 300, `peak RSS ${peak.toFixed(1)} MiB`);
  t.diagnostic(`balancer peak RSS while streaming 400 MiB each way: ${peak.toFixed(1)} MiB`);
});

test('a chunked response\'s first chunk reaches the client while the backend is still sending', async (t) => {
  let release!: () => void;
  const released = new Promise<void>((r) => { release = r; });
  const backend = await startBackend('chunks', (req, res) => {
    if (req.url === '/health') { res.end(); return; }
    res.write('first chunk\n');
    void released.then(() => res.end('last chunk\n'));
  });
  t.after(() => backend.close());
  const lb = await startInProcess({ BACKENDS: backend.url, HEALTH_CHECK_PATH: '/health' }, t);

  const req = request(lb.url, { agent: false }).end();
  const [res] = await once(req, 'response') as [import('node:http').IncomingMessage];
  res.setEncoding('utf8');
  const [first] = await once(res, 'data') as [string];
  assert.equal(first, 'first chunk\n', 'arrived before the backend finished');
  release();
  let rest = '';
  for await (const c of res) rest += c;
  assert.equal(rest, 'last chunk\n');
});
