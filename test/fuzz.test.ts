import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import pino from 'pino';
import { createLoadBalancer } from '../src/index.js';
import { seededRandom } from '../src/balancer/index.js';
import { get } from './helpers/http.js';
import { startBackend } from './helpers/backend.js';

/**
 * A seeded mutation fuzzer over request heads: valid requests and smuggling-style ones, with
 * bits flipped, bytes cut, tokens inserted, lines doubled. After every batch the balancer must
 * still answer a plain GET, have no request in flight and no upstream connection busy, and it
 * must never have answered 5xx (the backend always answers 200, so a 5xx is the balancer's own).
 */
const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed);
const CASES = Number(process.env.FUZZ_CASES ?? 2000);
const BATCH = 200;

const CORPUS: string[] = [
  'GET / HTTP/1.1\r\nHost: a\r\n\r\n',
  'GET /path/to?q=1&r=%20 HTTP/1.1\r\nHost: a.test:8080\r\nUser-Agent: fuzz\r\nAccept: */*\r\nCookie: s=1; t=2\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n',
  'POST /form HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello',
  'POST /chunks HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n',
  'HEAD / HTTP/1.1\r\nHost: a\r\n\r\n',
  'OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n',
  'GET http://example.test:1234/abs?x=y HTTP/1.1\r\nHost: a\r\n\r\n',
  'GET / HTTP/1.0\r\n\r\n',
  'GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n',
  'PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc',
  'GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Drop\r\nX-Drop: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n\r\n',
  // Smuggling-style heads: each is refused or re-framed, never passed through raw.
  'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n0\r\n\r\nX',
  'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tchunked\r\n\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd',
  'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: a\r\nX-A: a\r\n  folded\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n',
];

const TOKENS = [
  '\r\n', '\n', '\r', ' ', '\t', ':', '\0', ',', ';', 'chunked', '0\r\n\r\n', '\x80\xff',
  'Transfer-Encoding: chunked\r\n', 'Content-Length: 0\r\n', 'Content-Length: 100\r\n', 'Host: evil\r\n',
  'GET /inner HTTP/1.1\r\nHost: a\r\n\r\n', 'Connection: close\r\n', 'Expect: 100-continue\r\n',
];

function mutate(input: Buffer, random: () => number): Buffer {
  const int = (n: number): number => Math.floor(random() * n);
  let b = Buffer.from(input);
  for (let m = 1 + int(3); m > 0; m--) {
    const at = int(b.length + 1);
    switch (int(6)) {
      case 0: { // flip 1-4 bits
        for (let k = 1 + int(4); k > 0 && b.length > 0; k--) { const i = int(b.length); b[i] = b[i]! ^ (1 << int(8)); }
        break;
      }
      case 1: b = b.subarray(0, Math.max(1, at)); break; // truncate
      case 2: { // insert a token, or a run of bytes
        const token = int(8) === 0 ? 'a'.repeat(1 + int(20_000)) : TOKENS[int(TOKENS.length)]!;
        b = Buffer.concat([b.subarray(0, at), Buffer.from(token, 'latin1'), b.subarray(at)]);
        break;
      }
      case 3: b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + int(20)))]); break; // delete
      case 4: { // repeat a line
        const start = b.lastIndexOf(10, Math.max(0, at - 1)) + 1;
        const end = b.indexOf(10, at);
        if (end > start) b = Buffer.concat([b.subarray(0, end + 1), b.subarray(start, end + 1), b.subarray(end + 1)]);
        break;
      }
      default: if (b.length > 0) b[int(b.length)] = int(256); // replace a byte
    }
  }
  return b;
}

/**
 * Sends `bytes` (and half-closes after them when `end`), and resolves with everything the
 * balancer sent before it closed the connection, or undefined if it never did.
 */
function exchange(port: number, bytes: Buffer, end: boolean): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    const guard = setTimeout(() => { socket.destroy(); resolve(undefined); }, 15_000);
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => { data += c; });
    socket.on('error', () => undefined);
    socket.on('close', () => { clearTimeout(guard); resolve(data); });
    if (end) socket.end(bytes);
    else socket.write(bytes);
  });
}

test(`fuzzed request heads (${CASES} cases, seed ${SEED}) never wedge the balancer, leak a connection or get a 5xx`, { timeout: 600_000 }, async (t) => {
  const backend = await startBackend('b', (req, res) => { req.resume(); req.on('end', () => res.end('ok')); req.on('error', () => undefined); });
  backend.server.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno'));
  t.after(() => backend.close());
  const lb = createLoadBalancer({
    host: '127.0.0.1', port: 0, backends: [backend.url],
    health: { path: '/health', interval: '1h' },
    proxy: { timeout: '2s' },
    // Short enough that every connection is closed by the balancer soon: idle, a head or a body that never completes.
    limits: { headerTimeout: '500ms', bodyTimeout: '500ms', sendTimeout: '2s', idleTimeout: '200ms' },
  }, { logger: pino({ level: 'silent' }) });
  const { port } = await lb.start();
  t.after(() => lb.stop());
  const upstream = lb.pool.backends[0]!;

  const random = seededRandom(SEED);
  const statuses = new Map<string, number>();
  const failures: string[] = [];
  const started = performance.now();
  for (let done = 0; done < CASES; done += BATCH) {
    const cases = Array.from({ length: Math.min(BATCH, CASES - done) }, () => mutate(Buffer.from(CORPUS[Math.floor(random() * CORPUS.length)]!, 'latin1'), random));
    // One case in four half-closes after its bytes, as `nc -N` does; node:http then aborts what is in flight.
    const responses = await Promise.all(cases.map((bytes, i) => exchange(port, bytes, (done + i) % 4 === 0)));
    responses.forEach((response, i) => {
      const id = `case ${done + i}`;
      if (response === undefined) { failures.push(`${id}: no answer and no close within 15 s: ${JSON.stringify(cases[i]!.toString('latin1').slice(0, 120))}`); return; }
      const codes = [...response.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => m[1]!);
      for (const code of codes.length === 0 ? ['closed'] : codes) statuses.set(code, (statuses.get(code) ?? 0) + 1);
      if (codes.length === 0 && process.env.FUZZ_VERBOSE) t.diagnostic(`${id} closed without an answer: ${JSON.stringify(cases[i]!.toString('latin1').slice(0, 160))}`);
      // 505 is the answer to a version other than 1.0/1.1 (a request line a mutation broke says 0.9 or 5.1): the client's fault, by its nature.
      if (codes.some((c) => c.startsWith('5') && c !== '505')) failures.push(`${id}: ${codes.join(',')} for ${JSON.stringify(cases[i]!.toString('latin1').slice(0, 200))}`);
    });
    // The client side of every case has closed; give the balancer's side its turn to see it.
    for (let i = 0; i < 500 && (lb.inFlight > 0 || lb.connections(upstream).busy > 0); i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(lb.inFlight, 0, `after batch ${done / BATCH}: requests still in flight`);
    assert.equal(lb.connections(upstream).busy, 0, `after batch ${done / BATCH}: an upstream connection left busy`);
    const plain = await get(`http://127.0.0.1:${port}/`, { timeout: 5000 });
    assert.equal(plain.status, 200, `after batch ${done / BATCH}: a plain GET`);
  }
  const seconds = (performance.now() - started) / 1000;
  t.diagnostic(`${CASES} cases in ${seconds.toFixed(1)} s; answers: ${[...statuses].sort().map(([k, v]) => `${k}×${v}`).join(' ')}; upstream ${JSON.stringify(lb.connections(upstream))}`);
  assert.deepEqual(failures, []);
});
