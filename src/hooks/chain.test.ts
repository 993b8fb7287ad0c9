import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { HookChain, HookErrors, HookSet } from './chain.js';
import { named } from './load.js';

test('a chain holds per phase only the hooks that have it, in order; a phase nobody has is undefined (one check per request)', () => {
  const a = named({ name: 'a', onRequest() {}, onLog() {} }, 'x');
  const b = named({ name: 'b', onRequest() {} }, 'y');
  const chain = new HookChain([a, b]);
  assert.deepEqual(chain.onRequest?.map((s) => s.hook), ['a', 'b']);
  assert.deepEqual(chain.onLog?.map((s) => s.hook), ['a']);
  assert.deepEqual([chain.selectBackend, chain.onUpstreamRequest, chain.onResponse], [undefined, undefined, undefined]);
  assert.equal(new HookChain([]).empty, true);
});

test('a hook\'s functions are bound to it: a module\'s hooks may use `this`', () => {
  const seen: unknown[] = [];
  const hooks = { name: 'self', prefix: 'p', onRequest(this: { prefix: string }) { seen.push(this.prefix); } };
  const chain = new HookChain([named(hooks, 'x')]);
  (chain.onRequest![0]!.fn as () => void)();
  assert.deepEqual(seen, ['p']);
});

test('a route\'s chain is the global hooks then its own; its onRequest is its own only; a set without hooks is empty', () => {
  const g = named({ name: 'g', onRequest() {}, onResponse() {} }, 'g');
  const r = named({ name: 'r', onRequest() {} }, 'r');
  const options = { timeout: 1000, errors: new HookErrors(), log: pino({ level: 'silent' }), targets: () => new Map() };
  const set = new HookSet([g], new Map([['api', [r]], ['none', []]]), options);
  assert.deepEqual(set.routes.get('api')?.chain.names, ['g', 'r']);
  assert.deepEqual(set.routes.get('api')?.onRequest?.map((s) => s.hook), ['r']);
  assert.equal(set.routes.has('none'), false);
  assert.deepEqual(set.describe(), { global: ['g'], routes: { api: ['g', 'r'] } });
  assert.equal(new HookSet([], new Map(), options).empty, true);
});

test('an object without any phase, or with a phase that is no function, is refused', () => {
  assert.throws(() => named({} as never, 'hooks[0]'), /hooks\[0\]: expected an object with one or more of onRequest/);
  assert.throws(() => named({ onRequest: 'no' } as never, 'hooks[1]'), /hooks\[1\]/);
});
