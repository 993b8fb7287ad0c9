import { test } from 'node:test';
import assert from 'node:assert/strict';
import { uuid } from './request-id.js';

test('generated request ids are version 4 UUIDs, all different, across batches', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const id = uuid();
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    seen.add(id);
  }
  assert.equal(seen.size, 1000);
});

test('the hex digits of generated ids are spread evenly (the random bytes are all used)', () => {
  const counts = new Map<string, number>();
  const n = 4096;
  for (let i = 0; i < n; i++) {
    // The 30 digits that are random: all but the version and the variant's.
    const digits = uuid().replace(/-/g, '');
    for (const [at, d] of [...digits].entries()) if (at !== 12 && at !== 16) counts.set(d, (counts.get(d) ?? 0) + 1);
  }
  assert.equal(counts.size, 16);
  const expected = (n * 30) / 16;
  for (const [d, c] of counts) assert.ok(Math.abs(c - expected) < expected * 0.1, `digit ${d}: ${c} of ${expected}`);
});
