/**
 * `npm run bench -- --policies`: what the edge policies cost, side by side in the same rounds.
 * The balancer (today's defaults, with whatever `--env` gives) is measured beside the same build
 * with every policy explicitly off, with a rate limit on (one key per client, RATE_LIMIT_KEY=ip,
 * so high it never refuses: the cost of deciding, not of refusing), and with gzip on. Judged
 * against the all-off target: the rate limit's CPU per request within 5% (issue #30's target);
 * gzip's cost per KiB of body, meaningful with `--body 64k --accept-encoding gzip` (the backends
 * then answer JSON-like text that compresses as an API's answers do).
 */

interface Measured { readonly target: string; readonly cpuUsPerReq: number }

export const POLICIES_OFF = 'load-balancer (policies off)';
export const RATE_LIMITED = 'load-balancer (rate limit)';
export const GZIP = 'load-balancer (gzip)';
/** `--against`'s build (one from before the policies, say): every policy off should cost what it did. */
const AGAINST = 'load-balancer (against)';

/** Settings that turn a policy on: the all-off target leaves every one of them out. */
const POLICY_SETTINGS = /^(RATE_LIMIT|ALLOW_CIDRS|DENY_CIDRS|COMPRESSION|TRUSTED_PROXIES|PROXY_PROTOCOL)/;

/** The rate limit's cost, not its refusals: a rate and a burst no load generator here reaches. */
const NEVER_REFUSES = { RATE_LIMIT: '100000000/s', RATE_LIMIT_BURST: '100000000', RATE_LIMIT_KEY: 'ip' };

/** The three policy targets' settings, made from the balancer target's. */
export function policyEnvs(base: Readonly<Record<string, string>>): { name: string; env: Record<string, string> }[] {
  const off = Object.fromEntries(Object.entries(base).filter(([k]) => !POLICY_SETTINGS.test(k)));
  return [
    { name: POLICIES_OFF, env: { ...off, COMPRESSION: 'off' } },
    { name: RATE_LIMITED, env: { ...off, COMPRESSION: 'off', ...NEVER_REFUSES } },
    { name: GZIP, env: { ...off, COMPRESSION: 'gzip' } },
  ];
}

/** One policy target against the all-off one. */
export interface PolicyCheck {
  readonly target: string;
  readonly cpu: number;
  readonly offCpu: number;
  readonly ratio: number;
  readonly byRound: readonly number[];
}

/** The policy targets (and today's default, `load-balancer`) against the all-off target, when measured. */
export function policyChecks(summary: readonly Measured[], rounds: readonly (readonly Measured[])[]): PolicyCheck[] {
  const off = summary.find((x) => x.target === POLICIES_OFF);
  if (off === undefined || off.cpuUsPerReq === 0) return [];
  const checks: PolicyCheck[] = [];
  for (const name of ['load-balancer', AGAINST, RATE_LIMITED, GZIP]) {
    const s = summary.find((x) => x.target === name);
    if (s === undefined || s.cpuUsPerReq === 0) continue;
    const byRound = rounds.map((round) => {
      const a = round.find((x) => x.target === POLICIES_OFF);
      const b = round.find((x) => x.target === name);
      return a === undefined || b === undefined ? NaN : b.cpuUsPerReq / a.cpuUsPerReq;
    });
    checks.push({ target: name, cpu: s.cpuUsPerReq, offCpu: off.cpuUsPerReq, ratio: s.cpuUsPerReq / off.cpuUsPerReq, byRound });
  }
  return checks;
}

/** The lines the bench prints: each ratio round by round, then what it says. `bodyBytes` and `gzipAsked` make gzip's figure per KiB. */
export function describePolicyChecks(checks: readonly PolicyCheck[], bodyBytes: number, gzipAsked: boolean): string {
  return checks.map((c) => {
    const rounds = `${c.target} × ${POLICIES_OFF}, round by round: CPU-µs/req ${c.byRound.map((x) => x.toFixed(2)).join(' ')}`;
    const figures = `CPU-µs/req ${c.cpu.toFixed(1)} vs ${c.offCpu.toFixed(1)}, ${c.ratio.toFixed(3)}×`;
    if (c.target === RATE_LIMITED) return `${rounds}\nrate limit on (one key per client) within 5% of all off: ${c.ratio <= 1.05 ? 'yes' : 'no'} (${figures})`;
    if (c.target === GZIP) {
      if (!gzipAsked || bodyBytes < 1024) return `${rounds}\ngzip: no body was compressed (run with --body 64k --accept-encoding gzip) (${figures})`;
      const perKiB = (c.cpu - c.offCpu) / (bodyBytes / 1024);
      return `${rounds}\ngzip on a ${bodyBytes / 1024} KiB text body: +${(c.cpu - c.offCpu).toFixed(1)} CPU-µs/req, ${perKiB.toFixed(2)} CPU-µs per KiB (${figures})`;
    }
    if (c.target === AGAINST) return `${rounds}\nthe --against build against this one with every policy off: ${figures} (the target: within noise)`;
    return `${rounds}\ntoday's defaults against every policy off: ${figures} (the target: within noise)`;
  }).join('\n');
}
