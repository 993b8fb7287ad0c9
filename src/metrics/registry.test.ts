import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ShadowImage } from '../balancer/index.js';
import { Pool } from '../pool/index.js';
import { Metrics } from './registry.js';
import type { ProcessCounts } from './tally.js';

function metricsWith(shadow: ShadowImage | undefined): Metrics {
  const process: ProcessCounts = { retries: 0, queued: 0, connections: 0, logLinesDropped: 0, shadow };
  return new Metrics({ pool: new Pool([]), counts: () => Promise.resolve({ rows: [], process }), reloads: { succeeded: 0, failed: 0 } });
}

test('SHADOW_STRATEGIES\' series: decisions, agreement and predicted latency per strategy and role', async () => {
  const latency = (bucket: number, n: number): number[] => { const counts = new Array<number>(161).fill(0); counts[bucket] = n; return counts; };
  const text = await metricsWith({
    live: 'round-robin',
    liveLatency: latency(100, 60), // 100 ms
    shadows: [
      { strategy: 'peak-ewma', decisions: 60, agreements: 20, latency: latency(60, 60) }, // 1 ms
      { strategy: 'round-robin', decisions: 60, agreements: 60, latency: latency(100, 60) },
    ],
  }).text();
  assert.match(text, /^lb_shadow_decisions_total\{strategy="peak-ewma"\} 60$/m);
  assert.match(text, /^lb_shadow_agreement_ratio\{strategy="round-robin"\} 1$/m);
  assert.match(text, /^lb_shadow_agreement_ratio\{strategy="peak-ewma"\} 0.3333$/m);
  assert.match(text, /^lb_shadow_predicted_latency_p99_seconds\{strategy="round-robin",role="live"\} 0.1$/m);
  assert.match(text, /^lb_shadow_predicted_latency_p50_seconds\{strategy="peak-ewma",role="shadow"\} 0.001$/m);
});

test('with SHADOW_STRATEGIES off there is no shadow series', async () => {
  assert.doesNotMatch(await metricsWith(undefined).text(), /^lb_shadow_/m);
});

test('lb_upstream_connections: each backend\'s busy and idle connections, 0 for one without any', async () => {
  const pool = new Pool([{ url: 'http://127.0.0.1:1', id: 'a' }, { url: 'http://127.0.0.1:2', id: 'b' }]);
  const process: ProcessCounts = { retries: 0, queued: 0, connections: 0, logLinesDropped: 0, backendConnections: { a: [2, 5] } };
  const text = await new Metrics({ pool, counts: () => Promise.resolve({ rows: [], process }), reloads: { succeeded: 0, failed: 0 } }).text();
  assert.match(text, /^lb_upstream_connections\{backend="a",pool="default",state="busy"\} 2$/m);
  assert.match(text, /^lb_upstream_connections\{backend="a",pool="default",state="idle"\} 5$/m);
  assert.match(text, /^lb_upstream_connections\{backend="b",pool="default",state="idle"\} 0$/m);
});
