import { test } from 'node:test';
import assert from 'node:assert/strict';
import { restartDelay } from './cluster.js';

test('a worker that ran is replaced at once; one that keeps dying at start waits 1 s, 2 s, 4 s … up to 30 s', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7, 50].map(restartDelay), [0, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
});
