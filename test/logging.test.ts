import { test } from 'node:test';
import assert from 'node:assert/strict';
import { get } from './helpers/http.js';
import { startBackend } from './helpers/backend.js';
import { freePort, startLb } from './helpers/lb.js';

test('JSON lines: a start-up line with the effective configuration and one access line per request', async (t) => {
  const backend = await startBackend('b');
  t.after(() => backend.close());
  const lb = await startLb({ BACKENDS: backend.url, PROXY_TIMEOUT: '1m30s' });
  t.after(() => lb.stop());

  const starting = await lb.waitForLog((l) => l.msg === 'starting');
  const config = starting.config as Record<string, any>;
  assert.deepEqual(config.backends, [backend.url]);
  assert.equal(config.proxy.timeout, 90_000);
  assert.equal(config.strategy, 'round-robin');
  assert.equal(config.health.interval, 3_600_000);

  const res = await get(`${lb.url}/some/path?q=1`, { method: 'POST', body: 'hello', headers: { 'content-length': '5' } });
  const line = await lb.waitForLog((l) => l.msg === 'request' && l.reqId === res.headers['x-request-id']);
  assert.equal(line.method, 'POST');
  assert.equal(line.path, '/some/path?q=1');
  assert.equal(line.status, 200);
  assert.equal(line.bytes, 1);
  assert.equal(line.backend, `127.0.0.1:${backend.port}`);
  assert.equal(line.client, '127.0.0.1', 'the client address survives the upstream consuming the request body');
  assert.equal(typeof line.ms, 'number');
  assert.equal(line.level, 30);
  assert.equal(lb.logs.filter((l) => l.msg === 'request').length, 1, 'exactly one access line per request');
  // Every standard-output line is JSON.
  for (const text of lb.stdout().trim().split('\n')) assert.doesNotThrow(() => JSON.parse(text), text);
});

test('LOG_LEVEL is respected', async (t) => {
  const backend = await startBackend('b', undefined, { port: 'dedicated' });
  t.after(() => backend.close());
  const port = await freePort();
  const lb = await startLb({ BACKENDS: backend.url, LOG_LEVEL: 'warn', PORT: String(port) }, { waitListening: false });
  t.after(() => lb.stop());
  let res;
  for (let i = 0; ; i++) {
    try { res = await get(`http://127.0.0.1:${port}/`); break; } catch (err) {
      if (i > 200) throw err;
      await new Promise((r) => setTimeout(r, 25)); // polling a port that is not bound yet
    }
  }
  assert.equal(res.status, 200);
  await backend.close();
  await get(`http://127.0.0.1:${port}/`); // 502: logged at warn
  const warn = await lb.waitForLog((l) => l.level === 40 && /connection refused/.test(String(l.msg)));
  assert.equal(warn.status, 502);
  assert.equal(lb.logs.filter((l) => (l.level as number) < 40).length, 0, 'nothing below warn');
});

test('LOG_FORMAT=pretty is for people: a start-up summary of a few lines, then one access line per request (method path status duration backend id)', { timeout: 60_000 }, async (t) => {
  const backend = await startBackend('b');
  t.after(() => backend.close());
  const port = await freePort();
  const lb = await startLb({ BACKENDS: backend.url, LOG_FORMAT: 'pretty', PORT: String(port) }, { waitListening: false });
  t.after(() => lb.stop());
  const lines = (): string[] => lb.stdout().split('\n').filter((l) => l !== '');
  // Until the output says enough, or the balancer exits; at most 500 chunks.
  const waitFor = async (enough: () => boolean): Promise<void> => {
    for (let i = 0; i < 500 && !enough(); i++) {
      await new Promise<void>((resolve, reject) => {
        const exited = (): void => reject(new Error(`lb exited:\n${lb.stdout()}`));
        lb.proc.once('exit', exited);
        lb.proc.stdout!.once('data', () => { lb.proc.off('exit', exited); resolve(); });
      });
    }
    assert.ok(enough(), lb.stdout());
  };
  await waitFor(() => lines().some((l) => /INFO: listening\b/.test(l)));
  const startup = lines();
  assert.ok(startup.length <= 5, `a short start-up summary:\n${startup.join('\n')}`);
  for (const line of startup) assert.match(line, /^\[\d\d:\d\d:\d\d\.\d{3}\] (INFO|WARN): \S/, 'one line per record');
  assert.throws(() => JSON.parse(startup[0]!));
  assert.ok(startup.some((l) => l.includes(`starting: 1 backend: ${backend.url}; strategy round-robin;`)), startup.join('\n'));
  assert.ok(startup.some((l) => l.includes(`backend is up: 127.0.0.1:${backend.port}`)), startup.join('\n'));
  assert.ok(startup.some((l) => l.includes(`listening on http://127.0.0.1:${port} `)), startup.join('\n'));

  const ids: string[] = [];
  for (const path of ['/a', '/b?q=1', '/c']) ids.push(String((await get(`http://127.0.0.1:${port}${path}`)).headers['x-request-id']));
  await waitFor(() => lines().length >= startup.length + 3);
  const access = lines().slice(startup.length);
  assert.equal(access.length, 3, `one line per request:\n${access.join('\n')}`);
  for (const [i, path] of ['/a', '/b?q=1', '/c'].entries()) {
    const want = new RegExp(`^\\[[\\d:.]+\\] INFO: GET ${path.replace('?', '\\?')} 200 [\\d.]+ms 127\\.0\\.0\\.1:${backend.port} ${ids[i]}$`);
    assert.match(access[i]!, want);
  }
});
