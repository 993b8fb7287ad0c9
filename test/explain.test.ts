import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startBackend, startBackends } from './helpers/backend.js';
import { get } from './helpers/http.js';
import { startInProcess } from './helpers/in-process-lb.js';

const TOKEN = 'explain-token-0123456789';

interface Explained {
  strategy: string;
  chosen: string | null;
  decisions: {
    after: string; chosen?: string; failed?: { backend: string; code: string };
    candidates: { id: string; skipped?: string; inFlight: number; latencyMs: number; weight: number; factor: number }[];
    strategyDetail?: Record<string, unknown>;
  }[];
}

test('X-LB-Explain with the admin token: every backend with its figures or why it was skipped, the retry and its reason, the choice; never forwarded', async (t) => {
  const [a, b] = await startBackends(t, undefined, ['a', 'b']);
  const dead = await startBackend('dead', undefined, { port: 'dedicated' });
  await dead.close(); // its first check is refused: down
  const down = await startBackend('down', (req, res) => { res.statusCode = req.url === '/health' ? 503 : 200; res.end('down'); });
  t.after(() => down.close());
  const lb = await startInProcess({
    BACKENDS: `${a!.url}|weight=3,${dead.url},${b!.url},${down.url}`, STRATEGY: 'round-robin', HEALTH_CHECK_PATH: '/health',
    ADMIN_PORT: '0', ADMIN_TOKEN: TOKEN, OUTLIER_CONSECUTIVE_FAILURES: '0',
    // The first checks of the live backends pass however busy the machine (the default 1 s was missed under load 20).
    HEALTH_CHECK_TIMEOUT: '10s',
  }, t);
  const seen = new Map<string, Explained>();
  for (let i = 0; i < 6; i++) {
    const res = await get(lb.url, { headers: { 'x-lb-explain': TOKEN } });
    const explained = JSON.parse(res.headers['x-lb-explain'] as string) as Explained;
    assert.equal(explained.strategy, 'round-robin');
    assert.equal(explained.chosen, `127.0.0.1:${res.body === 'a' ? a!.port : b!.port}`);
    seen.set(res.body, explained);
  }
  const one = seen.get('a')!.decisions[0]!;
  assert.equal(one.after, 'first');
  const byId = new Map(one.candidates.map((c) => [c.id, c]));
  assert.equal(byId.size, 4);
  assert.equal(byId.get(`127.0.0.1:${a!.port}`)!.weight, 3);
  assert.equal(byId.get(`127.0.0.1:${down.port}`)!.skipped, 'down');
  assert.equal(byId.get(`127.0.0.1:${dead.port}`)!.skipped, 'down');
  for (const backend of [a!, b!]) {
    assert.ok(backend.requests.every((r) => r.headers['x-lb-explain'] === undefined), 'the token never reaches a backend');
  }

  // A wrong token: no explanation, and still not forwarded.
  const wrong = await get(lb.url, { headers: { 'x-lb-explain': 'not-the-token' } });
  assert.equal(wrong.headers['x-lb-explain'], undefined);
  assert.ok([a!, b!].every((backend) => backend.requests.every((r) => r.headers['x-lb-explain'] === undefined)));
});

test('X-LB-Explain shows a retry after a refused connection, and a consistent-hash key and slot', async (t) => {
  const [a] = await startBackends(t, undefined, ['a']);
  const gone = await startBackend('gone', undefined, { port: 'dedicated' });
  const lb = await startInProcess({
    BACKENDS: `${gone.url},${a!.url}`, STRATEGY: 'consistent-hash', HASH_KEY: 'header:x-user',
    ADMIN_PORT: '0', ADMIN_TOKEN: TOKEN, OUTLIER_CONSECUTIVE_FAILURES: '0',
    // The first checks of the live backends pass however busy the machine (the default 1 s was missed under load 20).
    HEALTH_CHECK_TIMEOUT: '10s',
  }, t);
  await gone.close(); // up by its first check, refusing from now on
  let retried: Explained | undefined;
  for (let i = 0; i < 40 && retried === undefined; i++) {
    const res = await get(lb.url, { headers: { 'x-lb-explain': TOKEN, 'x-user': `user-${i}` } });
    assert.equal(res.body, 'a');
    const explained = JSON.parse(res.headers['x-lb-explain'] as string) as Explained;
    const detail = explained.decisions[0]!.strategyDetail!;
    assert.equal(typeof detail.hashKey, 'number');
    assert.equal(detail.slot, (detail.hashKey as number) % 65_537);
    if (explained.decisions.length > 1) retried = explained;
  }
  assert.ok(retried !== undefined, 'some key hashed to the refusing backend');
  const [first, second] = retried.decisions;
  assert.equal(first!.chosen, `127.0.0.1:${gone.port}`);
  assert.deepEqual([first!.failed!.backend, first!.failed!.code], [`127.0.0.1:${gone.port}`, 'LB_ERR_UPSTREAM_CONNECT']);
  assert.equal(second!.after, 'retry');
  assert.equal(second!.candidates.find((c) => c.id === `127.0.0.1:${gone.port}`)!.skipped, 'excluded');
  assert.equal(retried.chosen, `127.0.0.1:${a!.port}`);
});

test('without ADMIN_TOKEN, X-LB-Explain is ignored and stripped', async (t) => {
  const [a] = await startBackends(t, undefined, ['a']);
  const lb = await startInProcess({ BACKENDS: a!.url }, t);
  const res = await get(lb.url, { headers: { 'x-lb-explain': TOKEN } });
  assert.equal(res.body, 'a');
  assert.equal(res.headers['x-lb-explain'], undefined);
  assert.equal(a!.requests.at(-1)!.headers['x-lb-explain'], undefined);
});
