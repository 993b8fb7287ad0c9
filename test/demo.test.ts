// @engine-independent: it runs the demo (npm start), which chooses its own engine, not the CLI under TEST_ENGINE.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { get } from './helpers/http.js';
import { untilPrinted } from './helpers/process.js';

const DEMO = fileURLToPath(new URL('../demo/main.js', import.meta.url));

test('the demo (npm start) prints where to curl, the admin API and its token, and they work; its log is for people, even into a pipe', async (t) => {
  const proc = spawn(process.execPath, [DEMO], {
    env: { PATH: process.env.PATH ?? '', DEMO_PORT: '0', DEMO_ADMIN_PORT: '0', DEMO_BACKEND_PORTS: '0,0,0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => proc.kill('SIGKILL'));
  proc.stdout!.setEncoding('utf8');
  let out = await untilPrinted(proc, (text) => /Ctrl-C/.test(text));
  proc.stdout!.on('data', (chunk: string) => { out += chunk; });
  const lb = /Load balancer: (http:\/\/localhost:\d+)/.exec(out)?.[1];
  const admin = /Admin API: (http:\/\/localhost:\d+) \(token ([0-9a-f]+)\)/.exec(out);
  assert.ok(lb !== undefined && admin !== null, out);
  const bodies = new Set<string>();
  for (let i = 0; i < 3; i++) bodies.add((await get(lb)).body.trim());
  assert.equal(bodies.size, 3, `three backends in turn: ${[...bodies].join(' | ')}`);
  const backends = JSON.parse((await get(`${admin[1]}/api/backends`, { headers: { authorization: `Bearer ${admin[2]}` } })).body);
  assert.equal(backends.backends.length, 3);
  assert.match((await get(`${admin[1]}/metrics`)).body, /^lb_requests_total\{backend="127\.0\.0\.1:\d+",code="2xx",pool="default",route=""\} 1$/m);
  proc.kill('SIGTERM');
  assert.equal((await once(proc, 'exit'))[0], 0);
  // Standard output is a pipe here: the log is pretty anyway, one line per record.
  assert.match(out, /^\[[\d:.]+\] INFO: starting: 3 backends: /m, out);
  for (const line of out.split('\n')) assert.doesNotMatch(line, /^\{/, 'no JSON line');
});
