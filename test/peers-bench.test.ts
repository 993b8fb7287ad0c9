// @engine-independent: the pure helpers of the peers bench (mode parser, client output parsers, table); no balancer process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_MODES, helpText, MODES, parseModes, UnknownModeError } from '../bench/peers/modes.js';
import { parseSTime, parseWrk, wrkMs } from '../bench/peers/load.js';
import { formatTable, medianRow, ratio, type Row } from '../bench/peers/table.js';

test('--mode: the defaults when none is given; names, commas, repeats and all, in the table\'s order, each once', () => {
  assert.deepEqual(parseModes([]).map((m) => m.name), [...DEFAULT_MODES]);
  assert.deepEqual(parseModes(['tls-full,6b', '6B', ' 64k ']).map((m) => m.name), ['6b', '64k', 'tls-full']);
  assert.deepEqual(parseModes(['all']).map((m) => m.name), MODES.map((m) => m.name));
  assert.throws(() => parseModes(['6b,nope']), (err: unknown) => err instanceof UnknownModeError && err.code === 'ERR_BENCH_UNKNOWN_MODE' && err.mode === 'nope');
});

test('the modes cover the issue\'s paths, and --help lists every one', () => {
  const byName = new Map(MODES.map((m) => [m.name, m]));
  assert.deepEqual([6, 1024, 65536].map((b) => MODES.some((m) => m.body === b && m.driver === 'wrk' && !m.newConnection)), [true, true, true]);
  assert.equal(byName.get('c1000')!.connections, 1000);
  assert.equal(byName.get('close')!.newConnection, true);
  assert.equal(byName.get('upload')!.upload, 1024 * 1024);
  assert.equal(byName.get('memory')!.connections, 10_000);
  assert.deepEqual(['tls', 'tls-new', 'tls-full', 'h2'].map((n) => byName.get(n)!.listen), ['tls', 'tls', 'tls', 'tls']);
  const help = helpText();
  for (const m of MODES) assert.match(help, new RegExp(`^  ${m.name} `, 'm'));
});

const WRK = `Running 2s test @ http://127.0.0.1:19200/
  1 threads and 50 connections
  Latency Distribution
     50%  812.00us
     75%    1.20ms
     90%    3.50ms
     99%    1.27s
  9714 requests in 2.00s, 1.36MB read
  Socket errors: connect 0, read 2, write 0, timeout 9
  Non-2xx or 3xx responses: 3
Requests/sec:   4856.12
`;

test('wrk: counts, latency units and every error kind', () => {
  assert.equal(wrkMs(WRK, '50'), 0.812);
  assert.equal(wrkMs(WRK, '99'), 1270);
  assert.equal(wrkMs(WRK, '99.9'), 0);
  assert.deepEqual(parseWrk(WRK, 2), { requests: 9714, errors: 14, seconds: 2, p50: 0.812, p99: 1270, p999: 0 });
  const none = parseWrk('unable to connect to 127.0.0.1:19200 Cannot assign requested address\n', 2);
  assert.equal(none.requests, 0);
  assert.match(none.problem!, /unable to connect/);
});

test('openssl s_time: connections summed over its processes; one that printed no count is an error', () => {
  const out = '*rrrr\nrrr\n\n1234 connections in 0.91s; 1356.04 connections/user sec, bytes read 0\n1234 connections in 3 real seconds, 0 bytes read per connection\n';
  assert.deepEqual(parseSTime([out, out, 'connect: Connection refused\n'], 3), { requests: 2468, errors: 1, seconds: 3, p50: 0, p99: 0, p999: 0, resumed: 14 });
});

const row = (target: string, cpuUsPerReq: number, p99: number, extra: Partial<Row> = {}): Row => ({
  target, rps: 1000, p50: 1, p99, p999: 0, cpuUsPerReq, rssMiB: 20, idleRssMiB: 10, errors: 0, clients: 0, ...extra,
});

test('the median of each figure over the rounds, errors summed', () => {
  const m = medianRow([row('a', 30, 5, { errors: 1 }), row('a', 10, 9, { errors: 2 }), row('a', 20, 1)]);
  assert.equal(m.cpuUsPerReq, 20);
  assert.equal(m.p99, 5);
  assert.equal(m.errors, 3);
  assert.equal(m.note, undefined);
});

test('the table\'s ratios are to nginx\'s row; a target without figures shows its note', () => {
  assert.equal(ratio(45, 30), '1.50');
  assert.equal(ratio(45, 0), '-');
  assert.equal(ratio(45, undefined), '-');
  const table = formatTable([row('load-balancer', 45, 4), row('nginx 1.22.1', 30, 2), { ...row('caddy', 0, 0), note: 'exited at start' }], 'nginx 1.22.1', false).split('\n');
  assert.equal(table.length, 5);
  assert.match(table[2]!, /^\| load-balancer \| 1000 \| 1\.00 \| 4\.00 \| - \| 45\.0 \| 1\.50 \| 2\.00 \| 20 \| 0 \|$/);
  assert.match(table[4]!, /^\| caddy \| exited at start \|/);
  const handshakes = formatTable([{ ...row('load-balancer', 900, 0), resumed: 0.5 }, { ...row('nginx 1.22.1', 300, 0), resumed: 1 }], 'nginx 1.22.1', false);
  assert.match(handshakes, /\nResumed handshakes: load-balancer 50%, nginx 1\.22\.1 100%\.$/);
  assert.equal(table[4]!.split('|').length, table[0]!.split('|').length);
  const memory = formatTable([row('load-balancer', 100, 0, { rssMiB: 30, idleRssMiB: 10, clients: 1024 }), row('nginx 1.22.1', 50, 0, { rssMiB: 15, idleRssMiB: 10, clients: 1024 })], 'nginx 1.22.1', true).split('\n');
  // (30 - 10) MiB over 1,024 clients: 20 KiB each; twice nginx's resident memory and CPU.
  assert.match(memory[2]!, /^\| load-balancer \| 10\.0 \| 30\.0 \| 20\.0 \| 2\.00 \| 100\.0 \| 2\.00 \| 0 \|$/);
});
