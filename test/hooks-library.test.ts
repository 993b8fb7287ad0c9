// @engine-independent: the library's hooks option and lb.use, on the default engine
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { createLoadBalancer } from '../src/index.js';
import { startBackend } from './helpers/backend.js';
import { get } from './helpers/http.js';

test('createLoadBalancer({ hooks }) takes objects and module paths; lb.use adds hooks for new requests, after the earlier ones', async (t) => {
  const backend = await startBackend('a', (req, res) => { req.resume(); res.end(String(req.headers['x-trail'])); });
  t.after(() => backend.close());
  const dir = mkdtempSync(join(tmpdir(), 'lb-hooks-lib-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const module = join(dir, 'module.mjs');
  writeFileSync(module, 'export function onRequest(ctx) { ctx.request.headers.append("x-trail", "module"); }\n');
  const lb = createLoadBalancer({
    host: '127.0.0.1', port: 0, backends: [backend.url], health: { interval: '1h' },
    hooks: [{ name: 'object', onRequest: (ctx) => { ctx.request.headers.append('x-trail', 'object'); } }, module],
  }, { logger: pino({ level: 'silent' }) });
  const { port } = await lb.start();
  t.after(() => lb.stop());
  assert.equal((await get(`http://127.0.0.1:${port}/`)).body, 'object, module', 'objects first, then the modules (HOOKS_MODULE)');
  lb.use({ name: 'used', onRequest: (ctx) => { ctx.request.headers.append('x-trail', 'used'); } });
  assert.equal((await get(`http://127.0.0.1:${port}/`)).body, 'object, used, module');
  assert.deepEqual(lb.config.hooks, [module]);
});
