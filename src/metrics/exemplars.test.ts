import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { IncomingMessage } from 'node:http';
import pino from 'pino';
import { ContextResponse, RequestContext } from '../context/index.js';
import { Backend, parseBackendText, Pool } from '../pool/index.js';
import { Metrics } from './registry.js';
import { countRequests, exemplarImage, mergeExemplars, Tally, type Exemplar, type ExemplarImage, type ProcessCounts } from './tally.js';

const log = pino({ enabled: false });
/** Debian's Python, where python3-prometheus-client installs (not a pyenv or venv one earlier in PATH). */
const PYTHON = process.env.PYTHON3 ?? '/usr/bin/python3';

/** A request to backend a that took `ms`, traced when `traceId` is given. */
function ended(ms: number, traceId?: string): RequestContext {
  const req = { socket: { remoteAddress: '127.0.0.1' }, method: 'GET', url: '/', headers: {}, httpVersionMajor: 1 } as unknown as IncomingMessage;
  const ctx = new RequestContext(req, new ContextResponse(req), log, 'http');
  // A backend keeps the tally row it first counted into: a new one per request, so each test's tally is its own.
  ctx.backend = new Backend(parseBackendText('http://127.0.0.1:9000|id=a'));
  ctx.endTime = ctx.startTime + ms;
  if (traceId !== undefined) {
    ctx.traceId = traceId;
    ctx.spanId = '00f067aa0ba902b7';
  }
  return ctx;
}

/** Seconds to the microsecond: a duration is a difference of two clock readings. */
const micro = (n: number): number => Math.round(n * 1e6) / 1e6;
const trace = (n: number): string => n.toString(16).padStart(32, '0');

function metricsOf(tally: Tally): Metrics {
  const process: ProcessCounts = { retries: 0, queued: 0, connections: 0, logLinesDropped: 0 };
  return new Metrics({
    pool: new Pool([{ url: 'http://127.0.0.1:9000', id: 'a' }]),
    counts: () => Promise.resolve({ rows: [...tally.entries()], process, exemplars: tally.exemplars() }),
    reloads: { succeeded: 0, failed: 0 },
  });
}

interface Sample { family: string; type: string; name: string; labels: Record<string, string>; value: number; exemplar: { labels: Record<string, string>; value: number; timestamp: number } | null }

/**
 * The exposition as the reference OpenMetrics parser reads it (the Prometheus Python client's,
 * strict about the format: families, suffixes, histograms, exemplars, `# EOF`); undefined where
 * it is not installed (apt-get install python3-prometheus-client), never in CI.
 */
function parseOpenMetrics(t: TestContext, text: string): Sample[] | undefined {
  const script = [
    'import sys, json',
    'from prometheus_client.openmetrics.parser import text_string_to_metric_families',
    'out = []',
    'for f in text_string_to_metric_families(sys.stdin.read()):',
    '    for s in f.samples:',
    '        e = s.exemplar',
    // NaN (an event-loop gauge before its first sample) is no JSON: null.
    "        out.append({'family': f.name, 'type': f.type, 'name': s.name, 'labels': s.labels, 'value': s.value if s.value == s.value else None,",
    "                    'exemplar': None if e is None else {'labels': e.labels, 'value': e.value, 'timestamp': float(e.timestamp)}})",
    'print(json.dumps(out))',
  ].join('\n');
  const run = spawnSync(PYTHON, ['-c', script], { input: text, encoding: 'utf8' });
  if (run.error !== undefined || /No module named/.test(run.stderr)) {
    assert.notEqual(process.env.CI, 'true', 'python3-prometheus-client is required in CI');
    t.diagnostic('the OpenMetrics parser (python3-prometheus-client) is not installed: exposition not parsed by it');
    return undefined;
  }
  assert.equal(run.status, 0, `the OpenMetrics parser refused the exposition: ${run.stderr}\n${text}`);
  return JSON.parse(run.stdout) as Sample[];
}

test('OpenMetrics: each lb_request_duration_seconds bucket carries the trace id of its latest traced request, read back by the OpenMetrics parser', async (t) => {
  const tally = new Tally();
  const count = countRequests(tally);
  count.onEnd!(ended(3, trace(1))); // 0.003 s: the 0.005 bucket
  count.onEnd!(ended(4, trace(2))); // the same bucket, later: it wins
  count.onEnd!(ended(4)); // untraced: leaves the exemplar alone
  count.onEnd!(ended(200, trace(3))); // the 0.25 bucket
  count.onEnd!(ended(60_000, trace(4))); // beyond 30 s: +Inf
  const before = Date.now() / 1000;
  const text = await metricsOf(tally).text(true);
  assert.match(text, /# EOF\n$/);
  assert.equal(text.match(/# EOF/g)?.length, 1, 'one # EOF, at the end');

  // Read as text: the bucket lines with their exemplars.
  const exemplars = [...text.matchAll(/^lb_request_duration_seconds_bucket\{[^}]*le="([^"]+)"\} (\d+) # \{trace_id="([0-9a-f]{32})"\} ([0-9.e-]+) ([0-9.]+)$/gm)]
    .map((m) => ({ le: m[1], traceId: m[3], value: micro(Number(m[4])) }));
  assert.deepEqual(exemplars, [
    { le: '0.005', traceId: trace(2), value: 0.004 },
    { le: '0.25', traceId: trace(3), value: 0.2 },
    { le: '+Inf', traceId: trace(4), value: 60 },
  ]);

  const samples = parseOpenMetrics(t, text);
  if (samples === undefined) return;
  const buckets = samples.filter((s) => s.name === 'lb_request_duration_seconds_bucket' && s.labels.backend === 'a');
  assert.equal(buckets.length, 15, 'fourteen bounds and +Inf');
  const withExemplar = buckets.filter((s) => s.exemplar !== null);
  assert.deepEqual(withExemplar.map((s) => [s.labels.le, s.exemplar!.labels.trace_id, micro(s.exemplar!.value)]), [['0.005', trace(2), 0.004], ['0.25', trace(3), 0.2], ['+Inf', trace(4), 60]]);
  for (const s of withExemplar) assert.ok(s.exemplar!.timestamp <= Date.now() / 1000 && s.exemplar!.timestamp > before - 60, 'stamped with when it was seen');
  assert.deepEqual(buckets.find((s) => s.labels.le === '+Inf')?.labels, { backend: 'a', pool: 'default', route: '', le: '+Inf' });
  // Counters are families without _total, their samples with it; the default metrics are there too.
  const requests = samples.find((s) => s.name === 'lb_requests_total');
  assert.deepEqual([requests?.family, requests?.type, requests?.value], ['lb_requests', 'counter', 5]);
  assert.ok(samples.some((s) => s.family === 'process_cpu_user_seconds' && s.name === 'process_cpu_user_seconds_total'));
  assert.ok(samples.some((s) => s.name === 'nodejs_version_info'));
});

test('the Prometheus text format is unchanged: no exemplars, no # EOF, counters named as before, and promtool finds nothing to report', async (t) => {
  const tally = new Tally();
  countRequests(tally).onEnd!(ended(3, trace(1)));
  const metrics = metricsOf(tally);
  const text = await metrics.text();
  assert.equal(metrics.contentType, 'text/plain; version=0.0.4; charset=utf-8');
  assert.equal(metrics.contentTypeOf(true), 'application/openmetrics-text; version=1.0.0; charset=utf-8');
  assert.doesNotMatch(text, / # \{/);
  assert.doesNotMatch(text, /# EOF/);
  assert.match(text, /^# TYPE lb_requests_total counter$/m);
  assert.match(text, /^lb_request_duration_seconds_bucket\{backend="a",pool="default",route="",le="0.005"\} 1$/m);
  // An OpenMetrics scrape in between changes nothing of the next text scrape (prom-client renames counters in place).
  await metrics.text(true);
  assert.equal((await metrics.text()).replace(/^(process|nodejs)_.*$/gm, ''), text.replace(/^(process|nodejs)_.*$/gm, ''));
  const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (promtool.error !== undefined) {
    assert.notEqual(process.env.CI, 'true', 'promtool is required in CI');
    t.diagnostic('promtool is not installed (apt-get install prometheus): exposition not linted');
  } else {
    assert.equal((promtool.stdout + promtool.stderr).trim(), '');
  }
});

test('without traced requests the OpenMetrics exposition has no exemplar and still parses', async (t) => {
  const tally = new Tally();
  countRequests(tally).onEnd!(ended(3));
  const text = await metricsOf(tally).text(true);
  assert.doesNotMatch(text, / # \{/);
  const samples = parseOpenMetrics(t, text);
  if (samples !== undefined) assert.equal(samples.filter((s) => s.exemplar !== null).length, 0);
});

test('a cluster\'s exemplars: the newest of each bucket over the workers, through the message image (null for none)', () => {
  const older = new Tally();
  const newer = new Tally();
  const row = (t: Tally): Float64Array => t.row('a');
  older.exemplar(row(older), 0.003, trace(1));
  older.exemplar(row(older), 0.2, trace(2));
  newer.exemplar(row(newer), 0.004, trace(3));
  const images = [exemplarImage(older.exemplars()), exemplarImage(newer.exemplars())];
  // Stamps as a later report would carry them: the second worker's are newer.
  images[1]![0]![1].forEach((e) => { if (e !== null) e.timestamp += 10; });
  assert.equal(JSON.parse(JSON.stringify(images[0])).length, 1, 'an image survives JSON (IPC)');
  const merged = new Map<string, (Exemplar | undefined)[]>();
  for (const image of images) mergeExemplars(merged, JSON.parse(JSON.stringify(image)) as ExemplarImage);
  const kept = merged.get('a')!;
  assert.deepEqual(kept.map((e) => e?.traceId), [undefined, undefined, trace(3), undefined, undefined, undefined, undefined, trace(2), undefined, undefined, undefined, undefined, undefined, undefined, undefined]);
});
