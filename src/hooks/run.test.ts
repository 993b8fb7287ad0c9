import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runHooks } from '../testing/hooks.js';
import type { HookContext, Hooks, Phase } from './types.js';

const never = (): Promise<never> => new Promise(() => undefined);
const boom = (): never => { throw new Error('boom'); };
const rejected = (): Promise<never> => Promise.reject(new Error('boom'));

/** A hook whose one phase fails as `how` says. */
function failing(phase: Phase, how: 'throws' | 'rejects' | 'hangs'): Hooks {
  const fn = how === 'throws' ? boom : how === 'rejects' ? rejected : never;
  return { name: 'bad', [phase]: fn } as Hooks;
}

describe('hook failures and timeouts, phase by phase', () => {
  for (const phase of ['onRequest', 'selectBackend', 'onUpstreamRequest'] as const) {
    for (const how of ['throws', 'rejects'] as const) {
      it(`${phase} that ${how}: 500 LB_ERR_HOOK_FAILED, the backend not asked, counted by hook and phase`, async () => {
        const out = await runHooks(failing(phase, how));
        assert.deepEqual([out.status, out.error, out.upstream], [500, 'LB_ERR_HOOK_FAILED', undefined]);
        assert.deepEqual(out.hookErrors, { [`bad\n${phase}`]: 1 });
        assert.equal(out.log?.error, 'LB_ERR_HOOK_FAILED');
      });
    }
    it(`${phase} past HOOK_TIMEOUT: abandoned, 504 LB_ERR_HOOK_TIMEOUT, counted`, async () => {
      const out = await runHooks(failing(phase, 'hangs'), { timeout: 20 });
      assert.deepEqual([out.status, out.error, out.upstream], [504, 'LB_ERR_HOOK_TIMEOUT', undefined]);
      assert.deepEqual(out.hookErrors, { [`bad\n${phase}`]: 1 });
    });
  }

  it('onResponse that throws on a backend\'s head: the response goes as the backend sent it, the failure counted', async () => {
    const out = await runHooks([{ name: 'bad', onResponse: boom }], { response: { status: 201, headers: { 'x-a': '1' } } });
    assert.deepEqual([out.status, out.headers, out.error], [201, [['x-a', '1']], undefined]);
    assert.deepEqual(out.hookErrors, { 'bad\nonResponse': 1 });
  });

  it('onResponse on a backend\'s head may be asynchronous: the head waits for it; one that rejects: 500, one that hangs: 504', async () => {
    const later = await runHooks([{ name: 'later', onResponse: async (_ctx, head) => { await Promise.resolve(); head.headers.set('x-later', String(head.status)); } }], { response: { status: 201 } });
    assert.deepEqual([later.status, later.headers, later.hookErrors], [201, [['x-later', '201']], {}]);
    const failed = await runHooks({ name: 'bad', onResponse: rejected }, { response: { status: 201 } });
    assert.deepEqual([failed.status, failed.error, failed.hookErrors], [500, 'LB_ERR_HOOK_FAILED', { 'bad\nonResponse': 1 }]);
    const hung = await runHooks({ name: 'slow', onResponse: never }, { response: { status: 201 }, timeout: 20 });
    assert.deepEqual([hung.status, hung.error, hung.hookErrors], [504, 'LB_ERR_HOOK_TIMEOUT', { 'slow\nonResponse': 1 }]);
  });

  it('onResponse on the balancer\'s own error answer may be asynchronous: the answer waits for it, with its fields', async () => {
    const out = await runHooks({
      name: 'later',
      onResponse: async (_ctx, head) => { await Promise.resolve(); head.headers.set('x-why', head.error ?? ''); },
    }, { pools: { default: [] } });
    assert.deepEqual([out.status, out.error, out.hookErrors], [503, 'LB_ERR_NO_BACKEND', {}]);
    assert.deepEqual(out.headers.filter(([name]) => name === 'x-why'), [['x-why', 'LB_ERR_NO_BACKEND']]);
  });

  it('onResponse on an error answer may answer after a promise; one that rejects: 500, one that hangs: 504', async () => {
    const answered = await runHooks({ name: 'sorry', onResponse: async (ctx) => { await Promise.resolve(); ctx.respond(503, 'sorry\n'); } }, { pools: { default: [] } });
    assert.deepEqual([answered.status, answered.body], [503, 'sorry\n']);
    const failed = await runHooks({ name: 'bad', onResponse: rejected }, { pools: { default: [] } });
    assert.deepEqual([failed.status, failed.error, failed.hookErrors], [500, 'LB_ERR_HOOK_FAILED', { 'bad\nonResponse': 1 }]);
    const hung = await runHooks({ name: 'slow', onResponse: never }, { pools: { default: [] }, timeout: 20 });
    assert.deepEqual([hung.status, hung.error, hung.hookErrors], [504, 'LB_ERR_HOOK_TIMEOUT', { 'slow\nonResponse': 1 }]);
  });

  it('onLog that throws or rejects: the line is written all the same, the failure counted', async () => {
    const out = await runHooks([{ name: 'a', onLog: boom }, { name: 'b', onLog: rejected }]);
    assert.equal(out.log?.status, 200);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(out.hookErrors['a\nonLog'], 1);
  });

  it('a hook answering after it was abandoned is too late: the client keeps the 504', async () => {
    let late: (() => void) | undefined;
    const out = await runHooks({
      name: 'late',
      onRequest: (ctx) => new Promise<void>((resolve) => { late = () => { ctx.respond(200, 'late'); resolve(); }; }),
    }, { timeout: 20 });
    assert.equal(out.status, 504);
    late!();
    assert.equal(out.status, 504);
  });

  it('respond() outside onRequest and usePool() of an unknown pool fail the hook (500)', async () => {
    const wrong = await runHooks({ name: 'w', onUpstreamRequest: (ctx) => ctx.respond(200) });
    assert.deepEqual([wrong.status, wrong.error], [500, 'LB_ERR_HOOK_FAILED']);
    const unknown = await runHooks({ name: 'u', onRequest: (ctx) => ctx.usePool('nope') });
    assert.deepEqual([unknown.status, unknown.error], [500, 'LB_ERR_HOOK_FAILED']);
    const header = await runHooks({ name: 'h', onRequest: (ctx) => ctx.request.headers.set('x-bad', 'a\r\nb') });
    assert.equal(header.status, 500, 'a field HTTP cannot carry is refused');
  });
});

describe('hook phases', () => {
  it('run in order, each hook\'s phases in the order given, sync ones synchronously', async () => {
    const seen: string[] = [];
    const trace = (name: string): Hooks => ({
      name,
      onRequest: () => { seen.push(`${name}.onRequest`); },
      selectBackend: () => { seen.push(`${name}.selectBackend`); },
      onUpstreamRequest: () => { seen.push(`${name}.onUpstreamRequest`); },
      onResponse: () => { seen.push(`${name}.onResponse`); },
      onLog: () => { seen.push(`${name}.onLog`); },
    });
    const pending = runHooks([trace('a'), trace('b')]);
    assert.equal(seen.length, 10, 'every phase ran before runHooks returned: nothing was awaited');
    await pending;
    assert.deepEqual(seen, ['a.onRequest', 'b.onRequest', 'a.selectBackend', 'b.selectBackend', 'a.onUpstreamRequest', 'b.onUpstreamRequest',
      'a.onResponse', 'b.onResponse', 'a.onLog', 'b.onLog']);
  });

  it('asynchronous phases are awaited in order', async () => {
    const seen: string[] = [];
    const out = await runHooks({
      name: 'async',
      onRequest: async (ctx) => { await Promise.resolve(); ctx.request.headers.set('x-step', '1'); seen.push('request'); },
      selectBackend: async (_ctx, candidates) => { await Promise.resolve(); seen.push('select'); return candidates[1]; },
      onUpstreamRequest: async (_ctx, head) => { await Promise.resolve(); head.url = '/rewritten'; seen.push('upstream'); },
    }, { pools: { default: ['a', 'b'] }, request: { url: '/x' } });
    assert.deepEqual(seen, ['request', 'select', 'upstream']);
    assert.deepEqual([out.backend, out.upstream?.url, out.upstream?.headers], ['b', '/rewritten', [['x-step', '1']]]);
  });

  it('selectBackend: a candidate or its id overrides, null vetoes (503), a full or unknown choice leaves the strategy\'s', async () => {
    const pools = { default: ['a', 'b', { id: 'full', maxRequests: 1, inFlight: 1 }] };
    const pick = (value: unknown): Hooks => ({ name: 'pick', selectBackend: () => value as string });
    assert.equal((await runHooks(pick('b'), { pools })).backend, 'b');
    assert.equal((await runHooks({ name: 'obj', selectBackend: (_c, list) => list[1] }, { pools })).backend, 'b');
    assert.equal((await runHooks(pick('full'), { pools })).backend, 'a', 'the availability rule still applies');
    assert.equal((await runHooks(pick('nope'), { pools })).backend, 'a');
    const veto = await runHooks(pick(null), { pools });
    assert.deepEqual([veto.status, veto.error, veto.upstream], [503, 'LB_ERR_NO_BACKEND', undefined]);
    let strategy: string | undefined;
    await runHooks({ name: 'look', selectBackend: (ctx) => { strategy = ctx.backend?.id; } }, { pools });
    assert.equal(strategy, 'a', 'the strategy\'s choice is ctx.backend');
  });

  it('onResponse edits a backend\'s head, and may replace the balancer\'s own error answer', async () => {
    const edit = await runHooks({ name: 'edit', onResponse: (_ctx, head) => { head.headers.delete('server'); head.headers.set('x-status', String(head.status)); } },
      { response: { status: 202, headers: { server: 'x', 'x-keep': '1' } } });
    assert.deepEqual(edit.headers, [['x-keep', '1'], ['x-status', '202']]);
    const replaced = await runHooks({
      name: 'sorry',
      selectBackend: () => null,
      onResponse: (ctx, head) => { if (head.error === 'LB_ERR_NO_BACKEND') ctx.respond(503, 'we are busy, back soon\n'); },
    });
    assert.deepEqual([replaced.status, replaced.body], [503, 'we are busy, back soon\n']);
  });

  it('onLog adds fields, or keeps the line from the log', async () => {
    assert.equal((await runHooks({ name: 'f', onLog: (_c, line) => { line.tenant = 't1'; } })).log?.tenant, 't1');
    assert.equal((await runHooks({ name: 'drop', onLog: () => false })).log, undefined);
  });

  it('state is per request: one request\'s hooks never see another\'s', async () => {
    const seen: unknown[] = [];
    const hooks: Hooks = {
      name: 'state',
      onRequest: (ctx: HookContext) => { seen.push(ctx.state.mine); ctx.state.mine = ctx.request.url; },
      onLog: (ctx) => { seen.push(ctx.state.mine); },
    };
    await runHooks(hooks, { request: { url: '/one' } });
    await runHooks(hooks, { request: { url: '/two' } });
    assert.deepEqual(seen, [undefined, '/one', undefined, '/two']);
  });

  it('the context: id, client address, pool, tries; edits of the request head reach the backend', async () => {
    let view: Record<string, unknown> = {};
    const out = await runHooks({
      name: 'view',
      onRequest: (ctx) => {
        ctx.request.headers.append('x-added', 'yes');
        ctx.request.headers.delete('x-drop');
        ctx.request.url = '/new?q=1';
      },
      onUpstreamRequest: (ctx, head) => {
        view = { id: ctx.id, client: ctx.clientAddress, pool: ctx.pool, tries: ctx.tries, method: head.method, added: head.headers.get('X-Added'), route: ctx.route, explain: ctx.explain };
      },
    }, { request: { id: 'r1', clientAddress: '10.1.2.3', method: 'POST', url: '/old', headers: { 'x-drop': '1', 'x-keep': '2' } } });
    assert.deepEqual(view, { id: 'r1', client: '10.1.2.3', pool: 'default', tries: 1, method: 'POST', added: 'yes', route: '', explain: undefined });
    assert.deepEqual([out.upstream?.url, out.upstream?.headers], ['/new?q=1', [['x-keep', '2'], ['x-added', 'yes']]]);
  });
});
