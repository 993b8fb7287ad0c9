import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { startBackend, startBackends, type Handler, type TestBackend } from './helpers/backend.js';
import { metric } from './helpers/edge.js';
import { get } from './helpers/http.js';
import { startH2Backend } from './helpers/h2-backend.js';
import { ENGINE_INDEPENDENT, freePort, startLb, type RunningLb } from './helpers/lb.js';
import { OtlpReceiver, type ReceivedSpan } from './helpers/otlp-receiver.js';

/** Exports go out within 50 ms of a request's end. */
const FAST_EXPORT = { OTEL_BSP_SCHEDULE_DELAY: '50', TRACE_SLOW_THRESHOLD: '0', HEALTH_CHECK_PATH: '/health' };

async function start(t: { after(fn: () => unknown): void }, env: Record<string, string>): Promise<RunningLb> {
  const lb = await startLb(env);
  t.after(() => lb.stop());
  return lb;
}

const traceparentOf = (req: IncomingMessage): string | undefined => req.headers.traceparent as string | undefined;
const served = (b: TestBackend): IncomingMessage[] => b.requests.filter((r) => r.url !== '/health');
const server = (spans: ReceivedSpan[], path: string): ReceivedSpan[] => spans.filter((s) => s.kind === 2 && s.attributes['url.path'] === path);
const children = (spans: ReceivedSpan[], parent: ReceivedSpan): ReceivedSpan[] => spans.filter((s) => s.parentSpanId === parent.spanId && s.traceId === parent.traceId);

test('a plain request: one SERVER span with the HTTP attributes and the routing decision, one CLIENT try span, the backend told our try span is its parent (http/protobuf)', async (t) => {
  const collector = await OtlpReceiver.start(t);
  const [backend] = await startBackends(t, undefined, ['a']);
  const lb = await start(t, {
    ...FAST_EXPORT, BACKENDS: backend!.url, OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
    OTEL_SERVICE_NAME: 'edge-lb', OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test,team=edge%20ops', OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=s3cret',
  });
  const res = await get(`${lb.url}/hello?x=1`);
  assert.equal(res.status, 200);
  const spans = await collector.waitFor((s) => server(s, '/hello').length === 1 && children(s, server(s, '/hello')[0]!).length === 1);
  const request = server(spans, '/hello')[0]!;
  const [attempt] = children(spans, request);
  const exp = collector.exports[0]!;
  assert.equal(exp.path, '/v1/traces');
  assert.equal(exp.contentType, 'application/x-protobuf');
  assert.equal(exp.headers['x-api-key'], 's3cret');
  assert.equal(exp.resource['service.name'], 'edge-lb');
  assert.equal(exp.resource['deployment.environment'], 'test');
  assert.equal(exp.resource.team, 'edge ops');
  assert.equal(exp.scope.name, 'load-balancer');

  assert.match(request.traceId, /^[0-9a-f]{32}$/);
  assert.equal(request.parentSpanId, '', 'no traceparent from the client: a new trace');
  assert.equal(request.name, 'GET');
  const backendId = `127.0.0.1:${backend!.port}`;
  assert.deepEqual(
    [request.attributes['http.request.method'], request.attributes['http.response.status_code'], request.attributes['client.address'], request.attributes['server.address'], request.attributes['network.protocol.version'], request.attributes['lb.pool']],
    ['GET', 200, '127.0.0.1', '127.0.0.1', '1.1', 'default'],
  );
  assert.equal(request.status.code, 0);
  const route = request.events.filter((e) => e.name === 'lb.route');
  assert.equal(route.length, 1);
  assert.deepEqual([route[0]!.attributes['lb.strategy'], route[0]!.attributes['lb.after'], route[0]!.attributes['lb.chosen'], route[0]!.attributes['lb.candidates']], ['round-robin', 'first', backendId, 1]);
  const explain = JSON.parse(String(request.attributes['lb.explain'])) as { strategy: string; chosen: string };
  assert.deepEqual([explain.strategy, explain.chosen], ['round-robin', backendId], 'a sampled request carries what X-LB-Explain would say');
  assert.equal(res.headers['x-lb-explain'], undefined, 'but the client is not told');

  assert.equal(attempt!.kind, 3);
  assert.deepEqual(
    [attempt!.attributes['lb.backend'], attempt!.attributes['lb.pool'], attempt!.attributes['server.address'], attempt!.attributes['server.port'], attempt!.attributes['http.response.status_code'], attempt!.attributes['lb.outcome'], attempt!.attributes['lb.try']],
    [backendId, 'default', '127.0.0.1', backend!.port, 200, 'responded', 1],
  );
  assert.equal(typeof attempt!.attributes['lb.time_to_first_byte_ms'], 'number');
  assert.equal(typeof attempt!.attributes['lb.connection.reused'], 'boolean');
  assert.ok(attempt!.start >= request.start && attempt!.end <= request.end, 'the try lies within the request');
  assert.equal(traceparentOf(served(backend!)[0]!), `00-${request.traceId}-${attempt!.spanId}-01`);
});

test('a client traceparent is continued (its span our parent, its tracestate kept) and the backend sees our try span as its parent', async (t) => {
  const collector = await OtlpReceiver.start(t);
  const [backend] = await startBackends(t, undefined, ['a']);
  const lb = await start(t, { ...FAST_EXPORT, BACKENDS: backend!.url, OTEL_EXPORTER_OTLP_ENDPOINT: `${collector.url}/` });
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const parent = '00f067aa0ba902b7';
  // The client did not sample: parentbased_always_on follows it, so the backend is told "not sampled";
  // the same client sampling is followed too.
  for (const flags of ['01', '00']) {
    const res = await get(`${lb.url}/continued-${flags}`, { headers: { traceparent: `00-${traceId}-${parent}-${flags}`, tracestate: 'vendor=x' } });
    assert.equal(res.status, 200);
  }
  const spans = await collector.waitFor((s) => server(s, '/continued-01').length === 1 && children(s, server(s, '/continued-01')[0]!).length === 1);
  const request = server(spans, '/continued-01')[0]!;
  const [attempt] = children(spans, request);
  assert.deepEqual([request.traceId, request.parentSpanId, request.traceState], [traceId, parent, 'vendor=x']);
  const [sampled, unsampled] = served(backend!);
  assert.equal(traceparentOf(sampled!), `00-${traceId}-${attempt!.spanId}-01`);
  assert.equal(sampled!.headers.tracestate, 'vendor=x');
  assert.match(traceparentOf(unsampled!)!, new RegExp(`^00-${traceId}-[0-9a-f]{16}-00$`), 'the client\'s own span id never reaches the backend');
  assert.notEqual(traceparentOf(unsampled!), `00-${traceId}-${parent}-00`);
  assert.equal(server(collector.spans, '/continued-00').length, 0, 'an unsampled 200 is not exported');
});

test('an HTTP/2 (h2c) backend is sent the try span as its parent too, instead of the client\'s', async (t) => {
  const collector = await OtlpReceiver.start(t);
  const backend = await startH2Backend(t, 'h2');
  const lb = await start(t, { ...FAST_EXPORT, BACKENDS: backend.entry, OTEL_EXPORTER_OTLP_ENDPOINT: collector.url });
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  assert.equal((await get(`${lb.url}/h2`, { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } })).status, 200);
  const spans = await collector.waitFor((s) => server(s, '/h2').length === 1 && children(s, server(s, '/h2')[0]!).length === 1);
  const [attempt] = children(spans, server(spans, '/h2')[0]!);
  assert.equal(attempt!.attributes['lb.backend'], 'h2');
  const streams = backend.streams.filter((s) => s.headers[':path'] === '/h2');
  assert.equal(streams.length, 1);
  assert.equal(streams[0]!.headers.traceparent, `00-${traceId}-${attempt!.spanId}-01`);
});

test('a retried request (http/json, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT): two try spans, a retry event, the route decisions with what was excluded', async (t) => {
  const collector = await OtlpReceiver.start(t);
  const sick: Handler = (req, res) => { req.resume(); res.statusCode = req.url === '/health' ? 200 : 503; res.end('sick'); };
  const bad = await startBackend('bad', sick);
  const [good] = await startBackends(t, undefined, ['good']);
  t.after(() => bad.close());
  const lb = await start(t, {
    ...FAST_EXPORT, BACKENDS: `${bad.url},${good!.url}`, OUTLIER_CONSECUTIVE_FAILURES: '0',
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${collector.url}/custom/traces`, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
  });
  // Round robin: one of two requests goes to the sick backend first.
  for (let i = 0; i < 2; i++) assert.equal((await get(`${lb.url}/retried`)).status, 200);
  const retried = (s: ReceivedSpan[]) => server(s, '/retried').find((r) => children(s, r).length === 2);
  const spans = await collector.waitFor((s) => retried(s) !== undefined);
  assert.equal(collector.exports[0]!.path, '/custom/traces');
  assert.equal(collector.exports[0]!.contentType, 'application/json');
  const request = retried(spans)!;
  const tries = children(spans, request).sort((a, b) => Number(a.attributes['lb.try']) - Number(b.attributes['lb.try']));
  const badId = `127.0.0.1:${bad.port}`;
  const goodId = `127.0.0.1:${good!.port}`;
  assert.deepEqual(tries.map((s) => [s.attributes['lb.backend'], s.attributes['http.response.status_code'], s.attributes['error.type'] ?? null, s.status.code]),
    [[badId, 503, 'LB_ERR_UPSTREAM_STATUS', 2], [goodId, 200, null, 0]]);
  assert.ok(tries[0]!.end <= tries[1]!.start, 'the second try starts after the first ended');
  const retry = request.events.filter((e) => e.name === 'lb.retry');
  assert.equal(retry.length, 1);
  assert.deepEqual([retry[0]!.attributes['lb.backend'], retry[0]!.attributes['lb.next'], retry[0]!.attributes['error.type'], retry[0]!.attributes['lb.try']], [badId, goodId, 'LB_ERR_UPSTREAM_STATUS', 2]);
  const route = request.events.filter((e) => e.name === 'lb.route').map((e) => [e.attributes['lb.after'], e.attributes['lb.chosen'], e.attributes['lb.excluded']]);
  assert.deepEqual(route, [['first', badId, ''], ['retry', goodId, badId]]);
  assert.equal(request.attributes['http.response.status_code'], 200);
  assert.equal(request.attributes['lb.tries'], 2);
  // Each try's backend was given that try's span as its parent.
  assert.equal(traceparentOf(served(good!).find((r) => r.url === '/retried' && traceparentOf(r)!.includes(tries[1]!.spanId))!), `00-${request.traceId}-${tries[1]!.spanId}-01`);
  assert.ok(served(bad).some((r) => traceparentOf(r) === `00-${request.traceId}-${tries[0]!.spanId}-01`));
});

test('a queued request: its span has the queue event and the pick made when a backend had room', async (t) => {
  const collector = await OtlpReceiver.start(t);
  const held: (() => void)[] = [];
  const [backend] = await startBackends(t, (req, res) => {
    req.resume();
    if (req.url === '/hold') held.push(() => res.end('held'));
    else res.end('ok');
  }, ['a']);
  const lb = await start(t, { ...FAST_EXPORT, BACKENDS: backend!.url, OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, BACKEND_MAX_REQUESTS: '1', LOG_LEVEL: 'debug' });
  const first = get(`${lb.url}/hold`);
  await backend!.nextRequest();
  const second = get(`${lb.url}/queued`);
  await lb.waitForLog((l) => l.msg === 'request queued');
  held.shift()!();
  assert.deepEqual([(await first).status, (await second).status], [200, 200]);
  const spans = await collector.waitFor((s) => server(s, '/queued').length === 1);
  const request = server(spans, '/queued')[0]!;
  const names = request.events.map((e) => e.name);
  assert.deepEqual(names, ['lb.route', 'lb.queued', 'lb.route']);
  assert.equal(request.events[0]!.attributes['lb.chosen'], '', 'no backend had room at first');
  assert.equal(request.events[1]!.attributes['lb.queue.length'], 1);
  assert.equal(request.events[2]!.attributes['lb.after'], 'queued');
  assert.equal(children(spans, request).length, 1);
});

test('sampled out: 200s are not exported, a 502 is (the tail rule); what is queued is flushed on a graceful stop', async (t) => {
  const collector = await OtlpReceiver.start(t);
  const [backend] = await startBackends(t, (req, res) => {
    req.resume();
    res.statusCode = req.url === '/broken' ? 502 : 200;
    res.end();
  }, ['a']);
  // A long schedule delay: nothing goes out before the stop.
  const lb = await start(t, {
    BACKENDS: backend!.url, HEALTH_CHECK_PATH: '/health', RETRIES: '0', OUTLIER_CONSECUTIVE_FAILURES: '0', TRACE_SLOW_THRESHOLD: '0',
    OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0', OTEL_BSP_SCHEDULE_DELAY: '1h',
  });
  for (let i = 0; i < 5; i++) assert.equal((await get(`${lb.url}/fine`)).status, 200);
  assert.equal((await get(`${lb.url}/broken`)).status, 502);
  assert.equal((await get(`${lb.url}/fine`, { headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' } })).status, 200, 'a client that sampled is followed');
  assert.equal(collector.exports.length, 0, 'nothing exported before the stop');
  assert.equal(await lb.stop(), 0);
  const spans = collector.spans;
  const broken = server(spans, '/broken');
  assert.equal(broken.length, 1, 'the 502 was kept');
  assert.equal(broken[0]!.attributes['lb.tail_kept'], true);
  assert.equal(broken[0]!.status.code, 2);
  assert.equal(children(spans, broken[0]!).length, 1);
  const fine = server(spans, '/fine');
  assert.equal(fine.length, 1, 'of the 200s, only the one its client sampled');
  assert.equal(fine[0]!.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
  // The backend was told "not sampled" for the requests the sampler dropped.
  assert.ok(served(backend!).filter((r) => r.url === '/broken').every((r) => traceparentOf(r)!.endsWith('-00')));
});

test('the tail rule keeps a slow request the sampler dropped; an ejection is an event on the try that caused it', async (t) => {
  const collector = await OtlpReceiver.start(t);
  const handler: Handler = (req, res) => {
    req.resume();
    if (req.url === '/slow') setTimeout(() => res.end('late'), 150);
    else { res.statusCode = req.url === '/bad' ? 502 : 200; res.end(); }
  };
  const backends = await startBackends(t, handler, ['a', 'b']);
  const lb = await start(t, {
    ...FAST_EXPORT, BACKENDS: backends.map((b) => b.url).join(','), OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_TRACES_SAMPLER: 'always_off',
    TRACE_SLOW_THRESHOLD: '100ms', RETRIES: '0', OUTLIER_CONSECUTIVE_FAILURES: '1',
  });
  assert.equal((await get(`${lb.url}/bad`)).status, 502);
  assert.equal((await get(`${lb.url}/slow`)).status, 200);
  assert.equal((await get(`${lb.url}/fast`)).status, 200);
  const spans = await collector.waitFor((s) => server(s, '/bad').length === 1 && server(s, '/slow').length === 1);
  const slow = server(spans, '/slow')[0]!;
  assert.equal(slow.attributes['lb.tail_kept'], true);
  assert.ok(slow.end - slow.start >= 100_000_000n, 'it took longer than the threshold');
  const [badTry] = children(spans, server(spans, '/bad')[0]!);
  const ejection = badTry!.events.filter((e) => e.name === 'lb.ejection');
  assert.equal(ejection.length, 1);
  assert.equal(ejection[0]!.attributes['lb.backend'], badTry!.attributes['lb.backend']);
  assert.equal(ejection[0]!.attributes['lb.ejections'], 1);
  await lb.stop();
  assert.equal(server(collector.spans, '/fast').length, 0, 'a quick 200 is not kept');
});

test('a collector that is down: requests are answered as ever, and the spans dropped are counted in /metrics', async (t) => {
  const [backend] = await startBackends(t, undefined, ['a']);
  const dead = await freePort();
  const lb = await start(t, {
    ...FAST_EXPORT, BACKENDS: backend!.url, OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${dead}`, OTEL_BSP_SCHEDULE_DELAY: '20', OTEL_BSP_MAX_QUEUE_SIZE: '4', ADMIN_PORT: '0',
  });
  const admin = await lb.waitForLog((l) => l.msg === 'admin listening');
  const adminUrl = `http://127.0.0.1:${admin.port as number}`;
  for (let i = 0; i < 10; i++) assert.equal((await get(`${lb.url}/x`)).status, 200);
  await lb.waitForLog((l) => l.msg === 'trace export failed: spans dropped');
  // Every span ends up dropped: at the full queue, or with the failed export that took it.
  let dropped: number | undefined;
  for (let i = 0; i < 400 && dropped !== 20; i++) {
    dropped = await metric(adminUrl, 'lb_trace_spans_dropped_total');
    if (dropped !== 20) await new Promise((resolve) => setTimeout(resolve, 25));
  }
  assert.equal(dropped, 20);
  assert.equal((await get(`${lb.url}/x`)).status, 200);
});

test('bad tracing settings stop the start naming the variable and the value', ENGINE_INDEPENDENT, async () => {
  for (const [key, value] of [['OTEL_TRACES_SAMPLER', 'sometimes'], ['OTEL_EXPORTER_OTLP_PROTOCOL', 'grpc'], ['OTEL_TRACES_SAMPLER_ARG', '1.5'], ['OTEL_EXPORTER_OTLP_ENDPOINT', 'localhost:4318']] as const) {
    const lb = await startLb({ BACKENDS: 'http://127.0.0.1:1', [key]: value }, { waitListening: false });
    assert.equal(await lb.exited, 2, key);
    assert.match(lb.stderr() + lb.stdout(), new RegExp(`${key}.*${value.replace('.', '\\.')}`), key);
  }
});
