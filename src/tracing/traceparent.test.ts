import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatTraceparent, parseTraceparent } from './traceparent.js';
import { Sampler } from './sampler.js';
import { IdSource } from './ids.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

test('a version 00 traceparent is read: trace id, parent span id, sampled flag', () => {
  assert.deepEqual(parseTraceparent(`00-${TRACE}-${SPAN}-01`), { traceId: TRACE, spanId: SPAN, sampled: true });
  assert.deepEqual(parseTraceparent(`00-${TRACE}-${SPAN}-00`), { traceId: TRACE, spanId: SPAN, sampled: false });
  // Other flags bits are not the sampled bit.
  assert.equal(parseTraceparent(`00-${TRACE}-${SPAN}-02`)?.sampled, false);
  assert.equal(parseTraceparent(` 00-${TRACE}-${SPAN}-03 `)?.sampled, true);
});

test('malformed traceparents are refused (a new trace starts)', () => {
  for (const bad of [
    undefined, '', 'garbage',
    `00-${TRACE.toUpperCase()}-${SPAN}-01`, // uppercase hex
    `00-${'0'.repeat(32)}-${SPAN}-01`, // zero trace id
    `00-${TRACE}-${'0'.repeat(16)}-01`, // zero span id
    `ff-${TRACE}-${SPAN}-01`, // version ff is invalid
    `00-${TRACE}-${SPAN}-01-extra`, // version 00 has exactly four fields
    `00-${TRACE.slice(1)}-${SPAN}-01`, // short trace id
    `00_${TRACE}-${SPAN}-01`,
    `00-${TRACE}-${SPAN}-0g`,
  ]) assert.equal(parseTraceparent(bad), undefined, String(bad));
});

test('a later version is read by its first four fields, and only with a dash after them', () => {
  assert.deepEqual(parseTraceparent(`01-${TRACE}-${SPAN}-01-whatever`), { traceId: TRACE, spanId: SPAN, sampled: true });
  assert.equal(parseTraceparent(`01-${TRACE}-${SPAN}-01x`), undefined);
});

test('formatTraceparent writes version 00 with the sampled flag, and parses back', () => {
  assert.equal(formatTraceparent(TRACE, SPAN, true), `00-${TRACE}-${SPAN}-01`);
  assert.equal(formatTraceparent(TRACE, SPAN, false), `00-${TRACE}-${SPAN}-00`);
  assert.deepEqual(parseTraceparent(formatTraceparent(TRACE, SPAN, false)), { traceId: TRACE, spanId: SPAN, sampled: false });
});

test('ids are lowercase hex of the right length, and differ', () => {
  const ids = new IdSource();
  const seen = new Set<string>();
  // More than one pool's worth, so the refill is exercised.
  for (let i = 0; i < 600; i++) {
    const t = ids.traceId();
    const s = ids.spanId();
    assert.match(t, /^[0-9a-f]{32}$/);
    assert.match(s, /^[0-9a-f]{16}$/);
    assert.ok(!seen.has(t) && !seen.has(s));
    seen.add(t).add(s);
  }
});

test('samplers: always_on/off, the ratio by trace id, and parent-based following the client', () => {
  const parent = (sampled: boolean) => ({ traceId: TRACE, spanId: SPAN, sampled });
  assert.equal(new Sampler('always_on', 1).sampled(TRACE, parent(false)), true);
  assert.equal(new Sampler('always_off', 1).sampled(TRACE, parent(true)), false);
  assert.equal(new Sampler('parentbased_always_on', 1).sampled(TRACE, parent(false)), false);
  assert.equal(new Sampler('parentbased_always_off', 1).sampled(TRACE, parent(true)), true);
  assert.equal(new Sampler('parentbased_always_off', 1).sampled(TRACE, undefined), false);
  const low = `${'f'.repeat(18)}${'0'.repeat(13)}1`;
  const high = 'f'.repeat(32);
  const ratio = new Sampler('traceidratio', 0.5);
  assert.equal(ratio.sampled(low, undefined), true);
  assert.equal(ratio.sampled(high, undefined), false);
  assert.equal(new Sampler('traceidratio', 0).sampled(low, undefined), false);
  assert.equal(new Sampler('traceidratio', 1).sampled(high, undefined), true);
  // traceidratio ignores the parent; parentbased_traceidratio follows it.
  assert.equal(ratio.sampled(high, parent(true)), false);
  assert.equal(new Sampler('parentbased_traceidratio', 0).sampled(high, parent(true)), true);
  const ids = new IdSource();
  let n = 0;
  const tenth = new Sampler('traceidratio', 0.1);
  for (let i = 0; i < 2000; i++) if (tenth.sampled(ids.traceId(), undefined)) n++;
  // 200 expected; far outside this only when the ratio is not applied at all.
  assert.ok(n > 100 && n < 300, `${n} of 2000 sampled at 0.1`);
});
