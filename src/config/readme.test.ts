import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SETTINGS } from './settings.js';

// The README's configuration reference is the operators' manual: every setting, as the code knows it.
test('the README configuration table has one row per setting, with its config key and flag', () => {
  const readme = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');
  const rows = new Map<string, string[]>();
  for (const line of readme.split('\n')) {
    const cells = line.split(/(?<!\\)\|/).map((c) => c.trim());
    const env = /^`([A-Z0-9_]+)`$/.exec(cells[1] ?? '')?.[1];
    if (env !== undefined && cells.length >= 6) rows.set(env, cells);
  }
  for (const setting of SETTINGS) {
    const cells = rows.get(setting.env);
    assert.ok(cells, `README lists ${setting.env}`);
    assert.equal(cells[2], `\`${setting.key}\``, `${setting.env}'s config key`);
    assert.equal(cells[3], `\`--${setting.flag}\``, `${setting.env}'s flag`);
  }
  const known = new Set(SETTINGS.map((s) => s.env));
  for (const env of rows.keys()) if (!known.has(env) && rows.get(env)![3]!.startsWith('`--')) assert.fail(`README lists ${env}, which is not a setting`);
});
