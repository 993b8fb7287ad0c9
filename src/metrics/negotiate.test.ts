import { test } from 'node:test';
import assert from 'node:assert/strict';
import { wantsOpenMetrics } from './negotiate.js';

test('Accept: OpenMetrics when it is asked for at least as much as the text format; the text format otherwise', () => {
  // What Prometheus 2.x and 3.x send.
  assert.equal(wantsOpenMetrics('application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'), true);
  assert.equal(wantsOpenMetrics('application/openmetrics-text; version=1.0.0; charset=utf-8'), true);
  assert.equal(wantsOpenMetrics(undefined), false);
  assert.equal(wantsOpenMetrics('*/*'), false);
  assert.equal(wantsOpenMetrics('text/plain;version=0.0.4'), false);
  assert.equal(wantsOpenMetrics('text/plain,application/openmetrics-text;q=0.5'), false);
  assert.equal(wantsOpenMetrics('application/openmetrics-text;q=0'), false);
});
