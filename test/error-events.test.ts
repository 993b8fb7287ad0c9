import { test } from 'node:test';
import assert from 'node:assert/strict';
import { get } from './helpers/http.js';
import { startBackends } from './helpers/backend.js';
import { startLb } from './helpers/lb.js';

interface StreamEvent { event: string; data: any }

/** Reads the admin listener's event stream, calling `started` once its snapshot came, until `until` says enough (or 30 s pass). */
async function streamUntil(base: string, started: () => void, until: (events: StreamEvent[]) => boolean): Promise<StreamEvent[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 30_000);
  const res = await fetch(`${base}/api/stream`, { signal: controller.signal });
  const events: StreamEvent[] = [];
  let buffer = '';
  try {
    for await (const chunk of res.body!.pipeThrough(new TextDecoderStream()) as unknown as AsyncIterable<string>) {
      buffer += chunk;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const lines = buffer.slice(0, end).split('\n');
        buffer = buffer.slice(end + 2);
        events.push({ event: lines[0]!.slice(7), data: JSON.parse(lines[1]!.slice(6)) });
        if (events.length === 1) started();
      }
      if (until(events)) break;
    }
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return events;
}

for (const workers of ['0', '2']) {
  test(`WORKERS=${workers}: a request answered 5xx is an error event on the admin timeline, with its request id and explanation; the dashboard learns TRACE_URL_TEMPLATE`, async (t) => {
    const [a] = await startBackends(t, (req, res) => { req.resume(); res.statusCode = req.url === '/boom' ? 503 : 200; res.end('x'); }, ['a']);
    // RETRIES=0: a 503 is not retried, so the request's outline is one try.
    const lb = await startLb({ BACKENDS: `${a!.url}|id=a`, ADMIN_PORT: '0', WORKERS: workers, RETRIES: '0', ACCESS_LOG_FORMAT: 'combined', TRACE_URL_TEMPLATE: 'http://127.0.0.1:16686/trace/{trace_id}' });
    t.after(() => lb.stop());
    const admin = `http://127.0.0.1:${(await lb.waitForLog((l) => l.msg === 'admin listening')).port as number}`;
    let sent: Promise<number> | undefined;
    const events = await streamUntil(admin, () => {
      sent = get(`${lb.url}/boom`, { headers: { 'x-request-id': `boom-${workers}`, 'user-agent': `events-${workers}` } }).then((r) => r.status);
    }, (es) => es.some((e) => e.event === 'event' && e.data.kind === 'error'));
    assert.equal(await sent, 503);
    assert.equal(events[0]!.data.info.traceUrl, 'http://127.0.0.1:16686/trace/{trace_id}');
    const error = events.find((e) => e.event === 'event' && e.data.kind === 'error')!.data;
    assert.deepEqual({ ...error, time: 0 }, {
      time: 0, kind: 'error', backend: 'a', message: '503 GET /boom', requestId: `boom-${workers}`, explain: 'status 503, backend a, tries 1, pool default',
    });
    // The worker's combined line is on the same standard output as everything else.
    await lb.waitForText(`events-${workers}`);
    assert.match(lb.stdout(), /^127\.0\.0\.1 - - \[[^\]]+\] "GET \/boom HTTP\/1\.1" 503 1 "-" "events-\d"$/m);
  });
}
