import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { HOOK_CONTEXT_KEYS } from './context-keys.js';
import { PHASES } from './types.js';

const DOC = readFileSync(new URL('../../../docs/hooks.md', import.meta.url), 'utf8');

/** The section of docs/hooks.md under `## title`. */
function section(title: string): string {
  const start = DOC.indexOf(`\n## ${title}\n`);
  assert.ok(start >= 0, `docs/hooks.md has a "## ${title}" section`);
  const end = DOC.indexOf('\n## ', start + 4);
  return DOC.slice(start, end < 0 ? undefined : end);
}

test('docs/hooks.md describes every member of HookContext, and nothing else, in the order of HOOK_CONTEXT_KEYS', () => {
  const rows = [...section('HookContext').matchAll(/^\| `ctx\.(\w+)/gm)].map((m) => m[1]);
  assert.deepEqual(rows, [...HOOK_CONTEXT_KEYS]);
});

test('docs/hooks.md\'s phase table has every phase, in order', () => {
  const rows = [...section('Phases').matchAll(/^\| `(\w+)\(/gm)].map((m) => m[1]);
  assert.deepEqual(rows, [...PHASES]);
});
