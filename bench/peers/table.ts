/**
 * The results of `npm run bench:peers`: one row per target and mode, the median over the rounds,
 * and the ratios to nginx's row of the same mode. Pure, so the arithmetic is tested alone.
 */

export interface Row {
  target: string;
  rps: number;
  /** Latency percentiles in ms; 0 where the client reports none. */
  p50: number;
  p99: number;
  p999: number;
  cpuUsPerReq: number;
  /** Resident memory of the target's processes at the end of the measurement (memory mode: with the idle clients). */
  rssMiB: number;
  /** Memory mode: resident memory before the idle clients. */
  idleRssMiB: number;
  errors: number;
  /** Memory mode: the idle clients held open (0 elsewhere). */
  clients: number;
  /** Handshake modes: the share of handshakes that resumed a session (0 to 1; undefined elsewhere). */
  resumed?: number;
  /** Why the target has no figures in this mode (it failed to start or to answer). */
  note?: string;
}

/** The median of each figure over the rounds (errors summed; a note kept). */
export function medianRow(rounds: readonly Row[]): Row {
  const median = (pick: (r: Row) => number): number => {
    const xs = rounds.map(pick).sort((a, b) => a - b);
    return xs.length === 0 ? 0 : xs[Math.floor(xs.length / 2)]!;
  };
  const note = rounds.find((r) => r.note !== undefined)?.note;
  const resumed = rounds.some((r) => r.resumed !== undefined) ? median((r) => r.resumed ?? 0) : undefined;
  return {
    target: rounds[0]?.target ?? '', rps: median((r) => r.rps), p50: median((r) => r.p50), p99: median((r) => r.p99), p999: median((r) => r.p999),
    cpuUsPerReq: median((r) => r.cpuUsPerReq), rssMiB: median((r) => r.rssMiB), idleRssMiB: median((r) => r.idleRssMiB),
    errors: rounds.reduce((n, r) => n + r.errors, 0), clients: median((r) => r.clients), ...(note === undefined ? {} : { note }), ...(resumed === undefined ? {} : { resumed }),
  };
}

/** `value / base` to two places, '-' when either is missing. */
export function ratio(value: number, base: number | undefined): string {
  return base === undefined || !(base > 0) || !(value > 0) ? '-' : (value / base).toFixed(2);
}

const fixed = (x: number, digits: number): string => (x > 0 ? x.toFixed(digits) : '-');

/**
 * A mode's table (Markdown, so the smoke run's table pastes into docs/performance.md): req/s,
 * latency, CPU-µs per request and its ratio to nginx's, resident memory (and in the memory mode
 * its ratio to nginx's), errors.
 */
export function formatTable(rows: readonly Row[], nginxName: string | undefined, memory: boolean): string {
  const nginx = rows.find((r) => r.target === nginxName);
  const head = memory
    ? ['target', 'RSS idle MiB', 'RSS with clients MiB', 'KiB per client', 'RSS × nginx', 'CPU-µs/req', 'CPU × nginx', 'errors']
    : ['target', 'req/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'CPU-µs/req', 'CPU × nginx', 'p99 × nginx', 'RSS MiB', 'errors'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
  for (const r of rows) {
    if (r.note !== undefined) {
      lines.push(`| ${r.target} | ${r.note} |${' |'.repeat(head.length - 2)}`);
      continue;
    }
    const cells = memory
      ? [fixed(r.idleRssMiB, 1), fixed(r.rssMiB, 1), r.rssMiB > 0 && r.idleRssMiB > 0 ? ((r.rssMiB - r.idleRssMiB) * 1024 / Math.max(1, r.clients)).toFixed(1) : '-',
        ratio(r.rssMiB, nginx?.rssMiB), fixed(r.cpuUsPerReq, 1), ratio(r.cpuUsPerReq, nginx?.cpuUsPerReq), String(r.errors)]
      : [fixed(r.rps, 0), fixed(r.p50, 2), fixed(r.p99, 2), fixed(r.p999, 2), fixed(r.cpuUsPerReq, 1), ratio(r.cpuUsPerReq, nginx?.cpuUsPerReq),
        ratio(r.p99, nginx?.p99), fixed(r.rssMiB, 0), String(r.errors)];
    lines.push(`| ${r.target} | ${cells.join(' | ')} |`);
  }
  const resumed = rows.filter((r) => r.resumed !== undefined && r.note === undefined);
  if (resumed.length > 0) lines.push('', `Resumed handshakes: ${resumed.map((r) => `${r.target} ${(r.resumed! * 100).toFixed(0)}%`).join(', ')}.`);
  return lines.join('\n');
}

