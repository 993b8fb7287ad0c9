import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { get } from './helpers/http.js';
import { startBackends } from './helpers/backend.js';
import { ENGINE_INDEPENDENT, runLb, startLb } from './helpers/lb.js';
import { OtlpReceiver } from './helpers/otlp-receiver.js';

/** nginx's `log_format combined`, as a log parser reads it (see src/middleware/access-format.test.ts). */
const COMBINED = /^(?<remote_addr>\S+) - (?<remote_user>\S+) \[(?<time_local>\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] "(?<request>(?:[^"\\]|\\.)*)" (?<status>\d{3}) (?<body_bytes_sent>\d+) "(?<http_referer>(?:[^"\\]|\\.)*)" "(?<http_user_agent>(?:[^"\\]|\\.)*)"$/;

test('ACCESS_LOG_FORMAT=combined: one combined line per request on standard output, beside the JSON log lines, read by nginx\'s format', async (t) => {
  const [a] = await startBackends(t, undefined, ['a']);
  const lb = await startLb({ BACKENDS: a!.url, ACCESS_LOG_FORMAT: 'combined' });
  t.after(() => lb.stop());
  const res = await get(`${lb.url}/shop?item=7`, { headers: { 'user-agent': 'combined-test/1.0', referer: 'http://127.0.0.1/from' } });
  assert.equal(res.status, 200);
  await lb.waitForText('combined-test/1.0');
  const lines = lb.stdout().split('\n').filter((l) => l.includes('combined-test/1.0'));
  assert.equal(lines.length, 1);
  const fields = COMBINED.exec(lines[0]!)?.groups;
  assert.ok(fields !== undefined, lines[0]);
  assert.deepEqual({ ...fields, time_local: undefined }, {
    remote_addr: '127.0.0.1', remote_user: '-', time_local: undefined, request: 'GET /shop?item=7 HTTP/1.1', status: '200',
    body_bytes_sent: String(Buffer.byteLength(res.body)), http_referer: 'http://127.0.0.1/from', http_user_agent: 'combined-test/1.0',
  });
  assert.ok(lb.logs.some((l) => l.msg === 'listening'), 'the other log lines stay JSON, on the same stream');
  assert.equal(lb.logs.some((l) => l.msg === 'request'), false, 'no JSON access line besides');
});

test('ACCESS_LOG_FORMAT template: validated at start; an unknown field stops it (exit 2) naming the field', ENGINE_INDEPENDENT, async () => {
  const bad = await runLb({ BACKENDS: 'http://127.0.0.1:1', ACCESS_LOG_FORMAT: '{client} {method} {colour} {status}' });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /ACCESS_LOG_FORMAT/);
  assert.match(bad.stderr, /unknown access-log field \{colour\}/);
  const none = await runLb({ BACKENDS: 'http://127.0.0.1:1', ACCESS_LOG_FORMAT: 'jsno' });
  assert.equal(none.code, 2);
  assert.match(none.stderr, /ACCESS_LOG_FORMAT.*json, combined, common, or a template/);
  const sample = await runLb({ BACKENDS: 'http://127.0.0.1:1', ACCESS_LOG_SAMPLE: '150%' });
  assert.equal(sample.code, 2);
  assert.match(sample.stderr, /ACCESS_LOG_SAMPLE/);
});

test('a template\'s line carries its fields; ACCESS_LOG=off writes no access line at all', async (t) => {
  const [a] = await startBackends(t, undefined, ['a']);
  const lb = await startLb({ BACKENDS: `${a!.url}|id=a`, ACCESS_LOG_FORMAT: 'T {client} {method} {path} {status} {backend} {request_id} {trace_id}' });
  t.after(() => lb.stop());
  await get(`${lb.url}/t1`, { headers: { 'x-request-id': 'template-1' } });
  await lb.waitForText('template-1');
  assert.deepEqual(lb.stdout().split('\n').filter((l) => l.startsWith('T ')), ['T 127.0.0.1 GET /t1 200 a template-1 -']);

  const off = await startLb({ BACKENDS: a!.url, ACCESS_LOG: 'off' });
  for (let i = 0; i < 3; i++) assert.equal((await get(`${off.url}/off`)).status, 200);
  // Everything it buffered is written by the time it exits.
  assert.equal(await off.stop(), 0);
  assert.ok(off.logs.some((l) => l.msg === 'listening'));
  assert.equal(off.logs.filter((l) => l.msg === 'request').length, 0);
});

test('/metrics: OpenMetrics when the scraper asks for it (Prometheus\'s Accept), the text format otherwise; both read cleanly', async (t) => {
  const [a] = await startBackends(t, undefined, ['a']);
  const lb = await startLb({ BACKENDS: `${a!.url}|id=a`, ADMIN_PORT: '0' });
  t.after(() => lb.stop());
  const admin = `http://127.0.0.1:${(await lb.waitForLog((l) => l.msg === 'admin listening')).port as number}`;
  for (let i = 0; i < 3; i++) await get(lb.url);
  const open = await get(`${admin}/metrics`, { headers: { accept: 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1' } });
  assert.equal(open.headers['content-type'], 'application/openmetrics-text; version=1.0.0; charset=utf-8');
  assert.equal(open.headers.vary, 'accept');
  assert.match(open.body, /^lb_requests_total\{backend="a",code="2xx",pool="default",route=""\} 3$/m);
  assert.match(open.body, /# EOF\n$/);
  const parsed = spawnSync(process.env.PYTHON3 ?? '/usr/bin/python3', ['-c', 'import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families as p\nprint(len(list(p(sys.stdin.read()))))'], { input: open.body, encoding: 'utf8' });
  if (parsed.error === undefined && !/No module named/.test(parsed.stderr)) assert.equal(parsed.status, 0, parsed.stderr);
  else assert.notEqual(process.env.CI, 'true', 'python3-prometheus-client is required in CI');

  const text = await get(`${admin}/metrics`);
  assert.equal(text.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  assert.doesNotMatch(text.body, /# EOF/);
  const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text.body, encoding: 'utf8' });
  if (promtool.error === undefined) assert.equal((promtool.stdout + promtool.stderr).trim(), '');
  else assert.notEqual(process.env.CI, 'true', 'promtool is required in CI');
});

test('a traced request: its trace and span ids in its access line (json and template), its trace id as an exemplar on /metrics (OpenMetrics)', async (t) => {
  const collector = await OtlpReceiver.start(t);
  const [a] = await startBackends(t, undefined, ['a']);
  const env = { BACKENDS: `${a!.url}|id=a`, ADMIN_PORT: '0', OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_BSP_SCHEDULE_DELAY: '50' };
  const lb = await startLb(env);
  t.after(() => lb.stop());
  const admin = `http://127.0.0.1:${(await lb.waitForLog((l) => l.msg === 'admin listening')).port as number}`;
  const client = '4bf92f3577b34da6a3ce929d0e0e4736';
  assert.equal((await get(`${lb.url}/traced`, { headers: { traceparent: `00-${client}-00f067aa0ba902b7-01`, 'x-request-id': 'traced-1' } })).status, 200);
  const line = await lb.waitForLog((l) => l.msg === 'request' && l.reqId === 'traced-1');
  assert.equal(line.trace_id, client, 'the client\'s trace, continued');
  const spans = await collector.waitFor((s) => s.some((x) => x.traceId === client && x.kind === 2));
  const server = spans.find((x) => x.traceId === client && x.kind === 2)!;
  assert.equal(line.span_id, server.spanId, 'the access line names the exported server span');
  const open = await get(`${admin}/metrics`, { headers: { accept: 'application/openmetrics-text;version=1.0.0' } });
  assert.match(open.body, new RegExp(`^lb_request_duration_seconds_bucket\\{[^}]*backend="a"[^}]*\\} 1 # \\{trace_id="${client}"\\} [0-9.e-]+( [0-9.]+)?$`, 'm'));

  const templated = await startLb({ ...env, ACCESS_LOG_FORMAT: 'T {request_id} {trace_id} {span_id}' });
  t.after(() => templated.stop());
  await get(`${templated.url}/traced`, { headers: { traceparent: `00-${client}-00f067aa0ba902b7-01`, 'x-request-id': 'traced-2' } });
  await templated.waitForText('T traced-2 ');
  const fields = templated.stdout().split('\n').find((l) => l.startsWith('T traced-2 '))!.split(' ');
  assert.equal(fields[2], client);
  assert.match(fields[3]!, /^[0-9a-f]{16}$/);
});
