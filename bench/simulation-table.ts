import type { SimulationResult } from './simulation.js';

/** The markers around the table in docs/strategies.md that `npm run simulate -- --update-doc` rewrites. */
export const DOC_BEGIN = '<!-- simulate:begin (npm run simulate -- --update-doc docs/strategies.md rewrites this block) -->';
export const DOC_END = '<!-- simulate:end -->';

/** The results as `npm run simulate` prints them: a header, a rule, one row per strategy. */
export function simulationTable(results: readonly SimulationResult[]): string {
  const header = `${'strategy'.padEnd(24)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(10)}${'p99.9 ms'.padStart(10)}${'mean ms'.padStart(10)}   share per backend (slow one last)`;
  const rows = results.map((r) => `${r.strategy.padEnd(24)}${r.p50.toFixed(1).padStart(9)}${r.p99.toFixed(1).padStart(10)}${r.p999.toFixed(1).padStart(10)}${r.mean.toFixed(1).padStart(10)}   ${r.share.map((s) => `${(s * 100).toFixed(1)}%`).join(' ')}`);
  return `${header}\n${'-'.repeat(header.length)}\n${rows.join('\n')}\n`;
}

/** The table between the markers of `doc`, as a code block; throws when the markers are missing. */
export function docTable(doc: string): string {
  const begin = doc.indexOf(DOC_BEGIN);
  const end = doc.indexOf(DOC_END);
  if (begin < 0 || end < begin) throw new Error(`the document has no ${DOC_BEGIN} … ${DOC_END} block`);
  return doc.slice(begin + DOC_BEGIN.length, end).replace(/^\n```\n/, '').replace(/```\n$/, '');
}

/** `doc` with the block between the markers replaced by `table`. */
export function withTable(doc: string, table: string): string {
  docTable(doc);
  const begin = doc.indexOf(DOC_BEGIN) + DOC_BEGIN.length;
  return `${doc.slice(0, begin)}\n\`\`\`\n${table}\`\`\`\n${doc.slice(doc.indexOf(DOC_END))}`;
}
