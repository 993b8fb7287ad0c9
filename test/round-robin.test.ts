import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'undici';
import { startBackend, type TestBackend } from './helpers/backend.js';
import { startInProcess, type InProcessLb } from './helpers/in-process-lb.js';

let backends: TestBackend[];
let lb: InProcessLb;
const agent = new Agent({ connections: 8 });

before(async () => {
  backends = await Promise.all(['b1', 'b2', 'b3'].map((n) => startBackend(n)));
  lb = await startInProcess({ BACKENDS: backends.map((b) => b.url).join(','), HEALTH_CHECK_PATH: '/health' });
});

after(async () => {
  await lb.stop();
  await agent.close();
  await Promise.all(backends.map((b) => b.close()));
});

async function hit(): Promise<string> {
  const res = await request(lb.url, { dispatcher: agent });
  assert.equal(res.statusCode, 200);
  return res.body.text();
}

test('consecutive requests rotate 1,2,3,1,2,3', async () => {
  const order: string[] = [];
  for (let i = 0; i < 6; i++) order.push(await hit());
  assert.deepEqual(order, ['b1', 'b2', 'b3', 'b1', 'b2', 'b3']);
});

test('300 requests over 3 healthy backends give exactly 100 each, also when concurrent', async () => {
  const counts = new Map<string, number>();
  // 10 clients at a time: the counter is shared, so concurrency must not skew the split.
  for (let round = 0; round < 30; round++) {
    const names = await Promise.all(Array.from({ length: 10 }, hit));
    for (const n of names) counts.set(n, (counts.get(n) ?? 0) + 1);
  }
  assert.deepEqual(Object.fromEntries(counts), { b1: 100, b2: 100, b3: 100 });
});
