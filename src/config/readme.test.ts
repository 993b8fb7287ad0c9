import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SECTIONS, sectionOf } from './sections.js';
import { SETTINGS } from './settings.js';

// The README's configuration reference is the operators' manual: every setting, as the code knows it.
test('the README configuration table has one row per setting, with its config key and flag, in the section --help puts it in', () => {
  const readme = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');
  const rows = new Map<string, string[]>();
  const sectionOfRow = new Map<string, string | undefined>();
  const titles = new Set(SECTIONS.map((s) => s.title));
  let section: string | undefined;
  for (const line of readme.split('\n')) {
    const title = /^\*\*(.+)\*\*$/.exec(line)?.[1];
    if (title !== undefined && titles.has(title)) section = title;
    const cells = line.split(/(?<!\\)\|/).map((c) => c.trim());
    const env = /^`([A-Z0-9_]+)`$/.exec(cells[1] ?? '')?.[1];
    if (env !== undefined && cells.length >= 6) { rows.set(env, cells); sectionOfRow.set(env, section); }
  }
  for (const setting of SETTINGS) {
    const cells = rows.get(setting.env);
    assert.ok(cells, `README lists ${setting.env}`);
    assert.equal(cells[2], `\`${setting.key}\``, `${setting.env}'s config key`);
    assert.equal(cells[3], `\`--${setting.flag}\``, `${setting.env}'s flag`);
    assert.equal(sectionOfRow.get(setting.env), sectionOf(setting), `${setting.env}'s section`);
  }
  const known = new Set(SETTINGS.map((s) => s.env));
  for (const env of rows.keys()) if (!known.has(env) && rows.get(env)![3]!.startsWith('`--')) assert.fail(`README lists ${env}, which is not a setting`);
});
