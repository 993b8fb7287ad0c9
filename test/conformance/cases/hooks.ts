import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { constants } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import pino from 'pino';
import { strategyNames } from '../../../src/balancer/index.js';
import { envLayer, objectLayer, resolveConfig, type Config } from '../../../src/config/index.js';
import type { Hooks } from '../../../src/hooks/index.js';
import { LoadBalancer } from '../../../src/index.js';
import { startBackend, type TestBackend } from '../../helpers/backend.js';
import { get } from '../../helpers/http.js';
import { firstAvailable, until, type EngineName } from '../../helpers/in-process.js';
import { startH2Backend } from '../../helpers/h2-backend.js';
import { holding, refusing } from '../backends.js';

type T = { after(fn: () => unknown): void };

/** Answers `name` with what it received: target, the headers the hooks set, the body. */
async function echo(t: T, name: string): Promise<TestBackend> {
  const backend = await startBackend(name, (req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => { body += chunk; });
    req.on('end', () => {
      res.setHeader('server', 'echo');
      res.setHeader('x-backend', name);
      res.end(JSON.stringify({ url: req.url, hook: req.headers['x-hook'] ?? null, upstream: req.headers['x-upstream'] ?? null, body }));
    });
  });
  t.after(() => backend.close());
  return backend;
}

/**
 * A balancer in this process on `engine` with `hooks`, its access lines collected; `file` is a
 * config file's content (routes, hooks), read again on reload.
 */
async function balancer(t: T, engine: EngineName, backends: readonly string[], hooks: readonly Hooks[], env: Record<string, string> = {}, file?: () => object) {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (text: string) => { lines.push(JSON.parse(text) as Record<string, unknown>); } });
  const load = (): Config => resolveConfig([...(file === undefined ? [] : [objectLayer(file(), undefined)]), envLayer({
    HOST: '127.0.0.1', PORT: '0', ENGINE: engine, ...(backends.length > 0 ? { BACKENDS: backends.join(',') } : {}), OUTLIER_CONSECUTIVE_FAILURES: '0', SHUTDOWN_TIMEOUT: '500ms', RETRIES: '0', ...env,
  })], strategyNames());
  const lb = new LoadBalancer(load(), { logger, externalHealth: true, strategy: firstAvailable, hooks, loadConfig: load });
  for (const pool of lb.pools.values()) for (const backend of pool.backends) pool.setHealth(backend, true);
  const { port } = await lb.start();
  t.after(() => lb.stop());
  return { lb, url: `http://127.0.0.1:${port}`, requests: () => lines.filter((l) => l.msg === 'request'), lines };
}

/**
 * An asynchronous onResponse that sets `x-later` after a few ms: on `/reject` it rejects, on
 * `/hang` it never settles (HOOK_TIMEOUT answers), as the held-head cases expect.
 */
const LATER: Hooks = {
  name: 'later',
  onResponse: async (ctx, head) => {
    await new Promise((resolve) => setTimeout(resolve, 5));
    if (ctx.request.url === '/reject') throw new Error('no head for you');
    if (ctx.request.url === '/hang') await new Promise(() => undefined);
    head.headers.set('x-later', String(head.status));
  },
};

/** A temporary folder for hook modules, removed after the test. */
function folder(t: T): string {
  const dir = mkdtempSync(join(tmpdir(), 'lb-hooks-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function hookCases(engine: EngineName): void {
  describe(`hooks (${engine})`, () => {
    it('every phase, synchronous: the request head edited, the backend chosen, the upstream head edited, the response head edited, the access line extended', async (t) => {
      const a = await echo(t, 'a');
      const b = await echo(t, 'b');
      const { url, requests } = await balancer(t, engine, [a.url, b.url], [{
        name: 'all',
        onRequest: (ctx) => { ctx.request.headers.set('x-hook', 'request'); ctx.state.seen = ctx.request.url; },
        selectBackend: (ctx, candidates) => (ctx.backend?.id === candidates[0]!.id ? candidates[1] : undefined),
        onUpstreamRequest: (ctx, head) => { head.headers.set('x-upstream', String(ctx.state.seen)); head.url = '/rewritten'; },
        onResponse: (_ctx, head) => { head.headers.delete('server'); head.headers.set('x-status-seen', String(head.status)); },
        onLog: (ctx, line) => { line.hooked = ctx.state.seen; },
      }]);
      const res = await get(`${url}/orig?q=1`);
      assert.equal(res.status, 200);
      assert.deepEqual(JSON.parse(res.body), { url: '/rewritten', hook: 'request', upstream: '/orig?q=1', body: '' });
      assert.deepEqual([res.headers['x-backend'], res.headers.server, res.headers['x-status-seen']], ['b', undefined, '200']);
      assert.ok(res.headers['x-request-id'], 'our own fields are added after the hooks');
      await until(() => requests().length === 1, 'the access line');
      assert.deepEqual([requests()[0]!.hooked, requests()[0]!.backend, requests()[0]!.status], ['/orig?q=1', '127.0.0.1:' + String(b.port), 200]);
    });

    it('every phase, asynchronous: a request body waits for onRequest and onUpstreamRequest and reaches the backend whole', async (t) => {
      const a = await echo(t, 'a');
      const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 5));
      const { url } = await balancer(t, engine, [a.url], [{
        name: 'async',
        onRequest: async (ctx) => { await tick(); ctx.request.headers.set('x-hook', 'later'); },
        selectBackend: async () => { await tick(); return undefined; },
        onUpstreamRequest: async (_ctx, head) => { await tick(); head.headers.set('x-upstream', 'later'); },
      }]);
      const body = 'x'.repeat(200_000);
      const res = await get(`${url}/upload`, { method: 'POST', body, headers: { 'content-length': String(body.length) } });
      assert.equal(res.status, 200);
      const seen = JSON.parse(res.body) as { hook: string; upstream: string; body: string };
      assert.deepEqual([seen.hook, seen.upstream, seen.body.length], ['later', 'later', body.length]);
    });

    it('onRequest answers at the edge: the backend is never asked, and the connection serves the next request', async (t) => {
      const a = await echo(t, 'a');
      const { url } = await balancer(t, engine, [a.url], [{ name: 'ping', onRequest: (ctx) => { if (ctx.request.url === '/ping') ctx.respond(200, 'pong\n', { 'x-edge': '1' }); } }]);
      const ping = await get(`${url}/ping`);
      assert.deepEqual([ping.status, ping.body, ping.headers['x-edge'], ping.headers['content-type']], [200, 'pong\n', '1', 'text/plain; charset=utf-8']);
      assert.equal(a.requests.length, 0);
      const other = await get(`${url}/other`);
      assert.equal(JSON.parse(other.body).url, '/other');
    });

    for (const phase of ['onRequest', 'selectBackend', 'onUpstreamRequest'] as const) {
      it(`${phase} that throws: 500 LB_ERR_HOOK_FAILED, logged with the hook's name, counted in /metrics; one that hangs: 504 LB_ERR_HOOK_TIMEOUT`, async (t) => {
        const a = await echo(t, 'a');
        const { lb, url, requests, lines } = await balancer(t, engine, [a.url], [{
          name: 'flaky',
          [phase]: (ctx: { request: { url: string } }) => {
            if (ctx.request.url === '/throw') throw new Error('broken hook');
            if (ctx.request.url === '/hang') return new Promise(() => undefined);
            return undefined;
          },
        } as Hooks], { HOOK_TIMEOUT: '50ms' });
        const thrown = await get(`${url}/throw`);
        assert.deepEqual([thrown.status, thrown.body], [500, '500 Internal Server Error\n']);
        const hung = await get(`${url}/hang`);
        assert.equal(hung.status, 504);
        const fine = await get(`${url}/fine`);
        assert.equal(fine.status, 200);
        assert.equal(a.requests.length, 1, 'only the request whose hooks went through reached the backend');
        await until(() => requests().length === 3, 'three access lines');
        assert.deepEqual(requests().map((l) => [l.path, l.status, l.error]), [['/throw', 500, 'LB_ERR_HOOK_FAILED'], ['/hang', 504, 'LB_ERR_HOOK_TIMEOUT'], ['/fine', 200, undefined]]);
        const logged = lines.find((l) => l.code === 'LB_ERR_HOOK_FAILED');
        assert.deepEqual([logged?.hook, logged?.phase, logged?.err], ['flaky', phase, 'broken hook']);
        const metrics = await lb.metrics.text();
        assert.match(metrics, new RegExp(`lb_hook_errors_total\\{hook="flaky",phase="${phase}"\\} 2`));
      });
    }

    it('onResponse replaces the balancer\'s own error answer (a backend that refuses: 502)', async (t) => {
      const gone = await refusing();
      const { url } = await balancer(t, engine, [gone], [{
        name: 'sorry',
        onResponse: (ctx, head) => { if (head.error !== undefined) ctx.respond(503, `sorry (${head.error})\n`, { 'retry-after': '5' }); },
      }]);
      const res = await get(`${url}/x`);
      assert.deepEqual([res.status, res.body, res.headers['retry-after']], [503, 'sorry (LB_ERR_UPSTREAM_CONNECT)\n', '5']);
    });

    it('a retry runs onUpstreamRequest again on that try\'s head, and asks selectBackend about its pick', async (t) => {
      const gone = await refusing();
      const a = await echo(t, 'a');
      const b = await echo(t, 'b');
      const upstream: [number, string | undefined][] = [];
      const selected: [number, string[]][] = [];
      const { url } = await balancer(t, engine, [gone, a.url, b.url], [{
        name: 'per-try',
        selectBackend: (ctx, candidates) => {
          selected.push([ctx.tries, candidates.map((c) => c.id)]);
          // The retry goes to the last candidate, where the strategy would take the first.
          return ctx.tries > 1 ? candidates[candidates.length - 1] : undefined;
        },
        onUpstreamRequest: (ctx, head) => {
          upstream.push([ctx.tries, ctx.backend?.id]);
          head.headers.append('x-upstream', `try ${ctx.tries}`);
          head.url = `/try/${ctx.tries}`;
        },
      }], { RETRIES: '1' });
      const res = await get(`${url}/x`);
      assert.equal(res.status, 200);
      assert.equal(res.headers['x-backend'], 'b');
      assert.deepEqual(JSON.parse(res.body), { url: '/try/2', hook: null, upstream: 'try 2', body: '' });
      const id = (u: string): string => new URL(u).host;
      assert.deepEqual(upstream, [[1, id(gone)], [2, id(b.url)]]);
      assert.deepEqual(selected, [[1, [id(gone), id(a.url), id(b.url)]], [2, [id(a.url), id(b.url)]]]);
      assert.equal(a.requests.length, 0);
    });

    it('selectBackend is asked again when a queued request gets its backend, and may refuse it (503)', async (t) => {
      const backend = await holding(t);
      const seen: [string, string | null][] = [];
      const { url } = await balancer(t, engine, [backend.url], [{
        name: 'queue',
        selectBackend: (ctx) => {
          seen.push([ctx.request.url, ctx.backend?.id ?? null]);
          return ctx.request.url === '/refused' && ctx.backend !== undefined ? null : undefined;
        },
      }], { BACKEND_MAX_REQUESTS: '1', QUEUE_SIZE: '2' });
      const first = get(`${url}/first`);
      await until(() => seen.length === 1 && backend.requests.length === 1, 'the first request at the backend');
      const refused = get(`${url}/refused`);
      await until(() => seen.length === 2, 'the second request queued');
      const second = get(`${url}/second`);
      await until(() => seen.length === 3, 'both queued requests asked about');
      backend.release();
      const answers = await Promise.all([first, refused, second]);
      assert.deepEqual(answers.map((r) => r.status), [200, 503, 200]);
      const id = new URL(backend.url).host;
      assert.deepEqual(seen, [['/first', id], ['/refused', null], ['/second', null], ['/refused', id], ['/second', id]]);
    });

    it('onResponse on the balancer\'s own error answer may be asynchronous: the answer waits for its promise', async (t) => {
      const gone = await refusing();
      const { url } = await balancer(t, engine, [gone], [{
        name: 'later',
        onResponse: async (ctx, head) => {
          await new Promise((resolve) => setTimeout(resolve, 5));
          if (ctx.request.url === '/sorry') ctx.respond(503, `sorry (${head.error})\n`);
          else head.headers.set('x-error-seen', String(head.error));
        },
      }]);
      const plain = await get(`${url}/x`);
      assert.deepEqual([plain.status, plain.headers['x-error-seen']], [502, 'LB_ERR_UPSTREAM_CONNECT']);
      const sorry = await get(`${url}/sorry`);
      assert.deepEqual([sorry.status, sorry.body], [503, 'sorry (LB_ERR_UPSTREAM_CONNECT)\n']);
    });

    it('onResponse on a backend\'s head may be asynchronous: the head and the body wait for it; one that rejects: 500, one that hangs: 504', async (t) => {
      const body = 'y'.repeat(300_000);
      const backend = await startBackend('big', (req, res) => {
        req.resume();
        res.setHeader('content-length', String(body.length));
        res.end(body);
      });
      t.after(() => backend.close());
      const { url, requests } = await balancer(t, engine, [backend.url], [LATER], { HOOK_TIMEOUT: '100ms' });
      const res = await get(`${url}/x`);
      assert.deepEqual([res.status, res.headers['x-later'], res.body.length, res.body === body], [200, '200', body.length, true]);
      const head = await get(`${url}/x`, { method: 'HEAD' });
      assert.deepEqual([head.status, head.headers['x-later'], head.body], [200, '200', '']);
      const rejected = await get(`${url}/reject`);
      assert.deepEqual([rejected.status, rejected.body], [500, '500 Internal Server Error\n']);
      const hung = await get(`${url}/hang`);
      assert.equal(hung.status, 504);
      const after = await get(`${url}/after`);
      assert.deepEqual([after.status, after.body.length], [200, body.length]);
      await until(() => requests().length === 5, 'five access lines');
      assert.deepEqual(requests().map((l) => [l.path, l.status, l.error]), [
        ['/x', 200, undefined], ['/x', 200, undefined], ['/reject', 500, 'LB_ERR_HOOK_FAILED'], ['/hang', 504, 'LB_ERR_HOOK_TIMEOUT'], ['/after', 200, undefined],
      ]);
    });

    it('an asynchronous onResponse on a compressed response: the held body goes through the compressor whole', async (t) => {
      const text = 'hooks hold heads. '.repeat(20_000);
      const backend = await startBackend('text', (req, res) => {
        req.resume();
        res.setHeader('content-type', 'text/plain');
        res.end(text);
      });
      t.after(() => backend.close());
      const { url } = await balancer(t, engine, [backend.url], [{
        name: 'later',
        onResponse: async (_ctx, head) => { await new Promise((resolve) => setTimeout(resolve, 5)); head.headers.set('x-later', 'yes'); },
      }], { COMPRESSION: 'gzip' });
      const { headers, body } = await new Promise<{ headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
        request(`${url}/text`, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
        }).on('error', reject).end();
      });
      assert.deepEqual([headers['content-encoding'], headers['x-later']], ['gzip', 'yes']);
      assert.equal(gunzipSync(body).toString(), text);
    });

    /** onResponse on the balancer's own answers: notes the head (at once, or later for `/async…`), answers otherwise for `…/replace`. */
    const noting: Hooks = {
      name: 'noting',
      onResponse: (ctx, head) => {
        const note = (): void => {
          if (head.error === undefined) return;
          if (ctx.request.url.endsWith('/replace')) ctx.respond(503, `replaced ${head.error} ${head.status}\n`, { 'x-replaced': '1' });
          else head.headers.set('x-why', `${head.error} ${head.status}`);
        };
        if (!ctx.request.url.startsWith('/async')) { note(); return undefined; }
        return new Promise<void>((resolve) => setTimeout(resolve, 5)).then(note);
      },
    };

    it('onResponse sees the router\'s own 404 (no route matched), synchronous or not: it adds fields or answers otherwise', async (t) => {
      const a = await echo(t, 'a');
      const { url, requests } = await balancer(t, engine, [], [noting], {}, () => ({
        pools: { api: { backends: [a.url] } },
        routes: [{ name: 'api', matches: [{ path: { type: 'PathPrefix', value: '/api' } }], backendRefs: [{ name: 'api' }] }],
      }));
      for (const path of ['/nowhere', '/async/nowhere']) {
        const res = await get(`${url}${path}`);
        assert.deepEqual([res.status, res.body, res.headers['x-why'], res.headers['cache-control']], [404, '404 Not Found\n', 'LB_ERR_NO_ROUTE 404', 'no-store'], path);
      }
      for (const path of ['/nowhere/replace', '/async/replace']) {
        const res = await get(`${url}${path}`);
        assert.deepEqual([res.status, res.body, res.headers['x-replaced']], [503, 'replaced LB_ERR_NO_ROUTE 404\n', '1'], path);
      }
      const routed = await get(`${url}/api/x`);
      assert.deepEqual([routed.status, routed.headers['x-why']], [200, undefined]);
      assert.equal(a.requests.length, 1);
      await until(() => requests().length === 5, 'five access lines');
      assert.deepEqual(requests().map((l) => l.status), [404, 404, 503, 503, 200]);
    });

    it('onResponse sees a rate limit\'s 429, synchronous or not: it adds fields or answers otherwise', async (t) => {
      const a = await echo(t, 'a');
      const { url } = await balancer(t, engine, [a.url], [noting], { RATE_LIMIT: '1/h', RATE_LIMIT_BURST: '1' });
      assert.equal((await get(`${url}/first`)).status, 200);
      for (const path of ['/limited', '/async/limited']) {
        const res = await get(`${url}${path}`);
        assert.deepEqual([res.status, res.headers['x-why'], typeof res.headers['retry-after']], [429, 'LB_ERR_RATE_LIMITED 429', 'string'], path);
      }
      for (const path of ['/limited/replace', '/async/replace']) {
        const res = await get(`${url}${path}`);
        assert.deepEqual([res.status, res.body, res.headers['x-replaced']], [503, 'replaced LB_ERR_RATE_LIMITED 429\n', '1'], path);
      }
      assert.equal(a.requests.length, 1);
    });

    it('an HTTP/2 backend\'s head waits for an asynchronous onResponse (its body too); one that rejects: 500, one that hangs: 504, and its stream is reset', async (t) => {
      const body = 'z'.repeat(300_000);
      const closed: [string, number][] = [];
      const h2 = await startH2Backend(t, 'h2', (stream, headers) => {
        const path = String(headers[':path']);
        stream.on('close', () => closed.push([path, stream.rstCode]));
        stream.resume();
        stream.respond({ ':status': 200, 'content-type': 'text/plain', 'x-backend': 'h2' });
        // The failing ones keep their stream open: the balancer resets it.
        if (path === '/reject' || path === '/hang') stream.write('partial');
        else stream.end(body);
      });
      const { url, requests } = await balancer(t, engine, [h2.entry], [LATER], { HOOK_TIMEOUT: '100ms' });
      const res = await get(`${url}/x`);
      assert.deepEqual([res.status, res.headers['x-later'], res.headers['x-backend'], res.body.length, res.body === body], [200, '200', 'h2', body.length, true]);
      const head = await get(`${url}/x`, { method: 'HEAD' });
      assert.deepEqual([head.status, head.headers['x-later'], head.body], [200, '200', '']);
      const rejected = await get(`${url}/reject`);
      assert.deepEqual([rejected.status, rejected.body], [500, '500 Internal Server Error\n']);
      const hung = await get(`${url}/hang`);
      assert.equal(hung.status, 504);
      const after = await get(`${url}/after`);
      assert.deepEqual([after.status, after.headers['x-later'], after.body.length], [200, '200', body.length]);
      await until(() => requests().length === 5 && closed.length === 5, 'five access lines, five streams closed');
      assert.deepEqual(requests().map((l) => [l.path, l.status, l.error]), [
        ['/x', 200, undefined], ['/x', 200, undefined], ['/reject', 500, 'LB_ERR_HOOK_FAILED'], ['/hang', 504, 'LB_ERR_HOOK_TIMEOUT'], ['/after', 200, undefined],
      ]);
      const reset = new Map(closed);
      assert.deepEqual([reset.get('/reject'), reset.get('/hang'), reset.get('/x')], [constants.NGHTTP2_CANCEL, constants.NGHTTP2_CANCEL, constants.NGHTTP2_NO_ERROR]);
    });

    it('a route\'s hooks run for its requests only, after the global ones; usePool sends a request to another pool', async (t) => {
      const a = await echo(t, 'a');
      const other = await echo(t, 'other');
      const dir = folder(t);
      const globalModule = join(dir, 'global.mjs');
      const routeModule = join(dir, 'route.mjs');
      writeFileSync(globalModule, `export function onRequest(ctx) { ctx.request.headers.append('x-hook', 'global'); if (ctx.request.url === '/elsewhere') ctx.usePool('other'); }\n`);
      writeFileSync(routeModule, `export default { name: 'route', onRequest(ctx) { ctx.request.headers.append('x-hook', 'route:' + ctx.route); } };\n`);
      const { url } = await balancer(t, engine, [a.url], [], { HOOKS_MODULE: globalModule }, () => ({
        pools: { other: { backends: [other.url] } },
        routes: [{ name: 'api', matches: [{ path: { type: 'PathPrefix', value: '/api' } }], backendRefs: [{ name: 'default' }], hooks: [routeModule] }],
      }));
      const routed = JSON.parse((await get(`${url}/api/x`)).body) as { hook: string };
      assert.equal(routed.hook, 'global, route:api');
      const unrouted = JSON.parse((await get(`${url}/home`)).body) as { hook: string };
      assert.equal(unrouted.hook, 'global');
      const moved = await get(`${url}/elsewhere`);
      assert.equal(moved.headers['x-backend'], 'other');
    });

    it('reload: new requests get the module\'s new instance; a request in flight finishes with the one it started with', async (t) => {
      let held: (() => void) | undefined;
      const backend = await startBackend('held', (req: IncomingMessage, res) => {
        req.resume();
        if (req.url === '/hold') held = () => res.end('held');
        else res.end('now');
      });
      t.after(() => backend.close());
      const dir = folder(t);
      const module = join(dir, 'version.mjs');
      const write = (version: number): void => writeFileSync(module, `const version = ${version};\nexport default { name: 'version', onResponse(ctx, head) { head.headers.set('x-hook-version', String(version)); } };\n`);
      write(1);
      const { lb, url } = await balancer(t, engine, [backend.url], [], { HOOKS_MODULE: module });
      const inFlight = get(`${url}/hold`);
      await until(() => held !== undefined, 'the held request at the backend');
      write(2);
      assert.equal(lb.reload().ok, true);
      await until(async () => (await get(`${url}/now`)).headers['x-hook-version'] === '2', 'the new instance in effect');
      held!();
      const old = await inFlight;
      assert.deepEqual([old.status, old.body, old.headers['x-hook-version']], [200, 'held', '1']);
    });
  });
}
