/**
 * The targets of `npm run bench -- --h2` (bench/run.ts measures them in its rounds): HTTP/2
 * from h2load, through the balancer and through HAProxy, to three h2c backends
 * (bench/h2-backend.ts). Beside them, the balancer's other paths under the same load generator:
 *
 * - `load-balancer h2→h2c` against `haproxy h2→h2c`: the issue's target (within 2× HAProxy's CPU
 *   per request). Both take the same client side: TLS with ALPN h2 on the balancer's TLS
 *   listener and HAProxy's `bind … ssl alpn h2` (`--h2-client tls`, the default), or h2c with
 *   prior knowledge on the plain listener and `bind … proto h2` (`--h2-client h2c`).
 * - `load-balancer h2→http1`: the same client side to the HTTP/1.1 backends
 *   (bench/backend.ts): what the upstream transport alone changes.
 * - `load-balancer http1` against `haproxy http1`: HTTP/1.1 end to end on the plain listener
 *   (the fast engine), the path of `npm run bench`, at the same number of requests in flight
 *   (connections × streams connections of one request each). Its ratio to HAProxy says how far
 *   the h2 ratio is from the one HTTP/1.1 already has.
 * - `direct (h2c)`: h2load to one h2c backend, the ceiling (no CPU of a proxy).
 * - `floor: node:http2 h2→h2c (stream API)` and `(compat API)` (unless `--no-floor`): a minimal
 *   proxy on node:http2 with the same client and backend sides (bench/h2-floor.ts), the least a
 *   Node proxy pays per request, and what node:http2's compatibility layer adds to it.
 * - `load-balancer h2→h2c (against)`, with `--against`: the other build's h2→h2c row, compared
 *   with HAProxy's and with this build's round by round.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { H2LoadShape } from './h2load.js';

export const H2_BACKEND_PORTS = [19111, 19112, 19113] as const;
export type H2Client = 'tls' | 'h2c';
/** The target: the balancer's h2 CPU per request within 2× HAProxy's. */
const LIMIT = 2;

/** A target as bench/run.ts measures it, loaded by h2load. */
export interface H2Target {
  readonly name: string;
  readonly command: string[];
  readonly env: Record<string, string>;
  readonly port: number;
  readonly peer?: boolean;
  readonly scrape?: boolean;
  readonly h2load: H2LoadShape;
}

export interface H2Setup {
  readonly client: H2Client;
  readonly connections: number;
  readonly streams: number;
  readonly workDir: string;
  /** The balancer's command line (node and its CLI). */
  readonly balancer: string[];
  /** PORT, HOST, STRATEGY, the admin port and `--env` settings: all but BACKENDS and TLS. */
  readonly lbEnv: Record<string, string>;
  readonly scrape: boolean;
  readonly proxyPort: number;
  readonly backendPorts: readonly number[];
  /** The floor proxy's command line (node and bench/h2-floor.js): its two rows, when given. */
  readonly floor?: string[];
  /** Another build of the balancer (`--against`): its h2→h2c row beside this one's, with `env` over lbEnv. */
  readonly against?: { readonly command: string[]; readonly env: Record<string, string> };
}

/** The targets, and the name of the one the others' ratios are taken against (HAProxy's h2 row when installed). */
export function h2Targets(setup: H2Setup): { targets: H2Target[]; base: string } {
  const { client, proxyPort, workDir } = setup;
  const tls = client === 'tls' ? certificate(workDir) : undefined;
  const proxyUrl = `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${proxyPort}/`;
  const h2Shape: H2LoadShape = { url: proxyUrl, h1: false, connections: setup.connections, streams: setup.streams };
  const h1Shape: H2LoadShape = { url: `http://127.0.0.1:${proxyPort}/`, h1: true, connections: setup.connections * setup.streams, streams: 1 };
  const h2c = H2_BACKEND_PORTS.map((p) => `http://127.0.0.1:${p}|proto=h2c`).join(',');
  const http1 = setup.backendPorts.map((p) => `http://127.0.0.1:${p}`).join(',');
  const tlsEnv: Record<string, string> = tls === undefined ? {} : { TLS_CERT_FILE: tls.cert, TLS_KEY_FILE: tls.key };
  const balancer = (name: string, backends: string, shape: H2LoadShape, withTls: boolean): H2Target => ({
    name, command: setup.balancer, port: proxyPort, scrape: setup.scrape, h2load: shape,
    env: { ...setup.lbEnv, BACKENDS: backends, ...(withTls ? tlsEnv : {}) },
  });
  const lbH2 = balancer('load-balancer h2→h2c', h2c, h2Shape, true);
  const targets: H2Target[] = [
    { name: 'direct (h2c)', command: [], env: {}, port: H2_BACKEND_PORTS[0], h2load: { ...h2Shape, url: `http://127.0.0.1:${H2_BACKEND_PORTS[0]}/` } },
    lbH2,
    ...(setup.against === undefined ? [] : [{ ...lbH2, name: 'load-balancer h2→h2c (against)', command: setup.against.command, env: { ...lbH2.env, ...setup.against.env } }]),
    ...(setup.floor === undefined ? [] : (['stream', 'compat'] as const).map((api) => ({
      ...lbH2, name: `floor: node:http2 h2→h2c (${api} API)`, command: setup.floor!, scrape: false, env: { ...lbH2.env, BENCH_FLOOR_API: api },
    }))),
    balancer('load-balancer h2→http1', http1, h2Shape, true),
    balancer('load-balancer http1', http1, h1Shape, false),
  ];
  if (spawnSync('haproxy', ['-v']).error !== undefined) {
    process.stderr.write('bench: not installed, left out: haproxy (apt-get install haproxy); ratios are to load-balancer h2→h2c\n');
    return { targets, base: lbH2.name };
  }
  const version = /version (\d+\.\d+(\.\d+)?)/i.exec(spawnSync('haproxy', ['-v'], { encoding: 'utf8' }).stdout ?? '')?.[1] ?? '';
  const front = tls === undefined ? 'proto h2' : `ssl crt ${tls.pem} alpn h2,http/1.1`;
  const haproxyH2 = haproxy(`haproxy ${version} h2→h2c`, 'h2', workDir, proxyPort, front, H2_BACKEND_PORTS, 'proto h2', h2Shape);
  targets.splice(1, 0, haproxyH2);
  targets.push(haproxy(`haproxy ${version} http1`, 'http1', workDir, proxyPort, '', setup.backendPorts, '', h1Shape));
  return { targets, base: haproxyH2.name };
}

/**
 * HAProxy configured as the other peers are (round robin, backend connections reused by every
 * client, no log, one thread pinned by the harness), with `bindOptions` towards the client and
 * `serverOptions` towards the backends.
 */
function haproxy(name: string, file: string, workDir: string, port: number, bindOptions: string, backendPorts: readonly number[], serverOptions: string, shape: H2LoadShape): H2Target {
  const config = join(workDir, `haproxy-${file}.cfg`);
  writeFileSync(config, [
    'global', '  nbthread 1',
    'defaults', '  mode http', '  timeout connect 5s', '  timeout client 30s', '  timeout server 30s', '  option http-keep-alive',
    'frontend lb', `  bind 127.0.0.1:${port} ${bindOptions}`.trimEnd(), '  default_backend backends',
    'backend backends', '  balance roundrobin', '  http-reuse always',
    ...backendPorts.map((p, i) => `  server b${i + 1} 127.0.0.1:${p} ${serverOptions}`.trimEnd()), '',
  ].join('\n'));
  return { name, command: ['haproxy', '-db', '-f', config], env: {}, port, peer: true, h2load: shape };
}

/**
 * A self-signed P-256 certificate for 127.0.0.1 and localhost, made for this run (h2load does
 * not verify it): the key and certificate apart for the balancer, together for HAProxy's `crt`.
 */
function certificate(dir: string): { cert: string; key: string; pem: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  const made = spawnSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', key, '-out', cert,
  ], { encoding: 'utf8' });
  if (made.error !== undefined || made.status !== 0) {
    throw new Error(`--h2-client tls needs openssl to make a certificate (apt-get install openssl): ${made.error?.message ?? made.stderr}`);
  }
  const pem = join(dir, 'haproxy.pem');
  writeFileSync(pem, `${readFileSync(cert, 'utf8')}${readFileSync(key, 'utf8')}`);
  return { cert, key, pem };
}

interface Measured { readonly target: string; readonly cpuUsPerReq: number }

/** One target's CPU per request against another's, over the medians and round by round. */
export interface H2Check {
  readonly target: string;
  readonly against: string;
  readonly ratio: number;
  readonly byRound: readonly number[];
  /** Whether it is within the 2×; only for the h2 pair. */
  readonly within?: boolean;
}

/** The pairs measured: h2 and HTTP/1.1 each against HAProxy, and h2 against HTTP/1.1 backends. */
export function h2Checks(summary: readonly Measured[], rounds: readonly (readonly Measured[])[]): H2Check[] {
  const named = (name: string): string | undefined => summary.find((s) => s.target === name)?.target;
  const haproxyH2 = summary.find((s) => s.target.startsWith('haproxy') && s.target.endsWith('h2→h2c'))?.target;
  const haproxyH1 = summary.find((s) => s.target.startsWith('haproxy') && s.target.endsWith('http1'))?.target;
  const pairs: [string | undefined, string | undefined, boolean][] = [
    [named('load-balancer h2→h2c'), haproxyH2, true],
    [named('load-balancer http1'), haproxyH1, false],
    [named('load-balancer h2→h2c'), named('load-balancer h2→http1'), false],
    [named('load-balancer h2→h2c (against)'), haproxyH2, false],
    [named('load-balancer h2→h2c'), named('load-balancer h2→h2c (against)'), false],
    [named('floor: node:http2 h2→h2c (stream API)'), haproxyH2, false],
    [named('floor: node:http2 h2→h2c (compat API)'), named('floor: node:http2 h2→h2c (stream API)'), false],
    [named('load-balancer h2→h2c'), named('floor: node:http2 h2→h2c (compat API)'), false],
  ];
  const checks: H2Check[] = [];
  for (const [target, against, judged] of pairs) {
    const t = summary.find((s) => s.target === target);
    const a = summary.find((s) => s.target === against);
    // A target that answered nothing has no CPU per request to compare.
    if (t === undefined || a === undefined || t.cpuUsPerReq === 0 || a.cpuUsPerReq === 0) continue;
    const byRound = rounds.map((round) => {
      const x = round.find((s) => s.target === t.target);
      const y = round.find((s) => s.target === a.target);
      return x === undefined || y === undefined ? NaN : x.cpuUsPerReq / y.cpuUsPerReq;
    });
    const ratio = t.cpuUsPerReq / a.cpuUsPerReq;
    checks.push({ target: t.target, against: a.target, ratio, byRound, ...(judged ? { within: ratio <= LIMIT } : {}) });
  }
  return checks;
}

/** The lines the bench prints: each ratio round by round, and the check of the h2 pair. */
export function describeH2Checks(checks: readonly H2Check[]): string {
  return checks.map((c) => [
    `${c.target} × ${c.against}: CPU-µs/req ${c.ratio.toFixed(2)}×, round by round ${c.byRound.map((x) => x.toFixed(2)).join(' ')}`,
    ...(c.within === undefined ? [] : [`h2 within ${LIMIT}× HAProxy's CPU per request: ${c.within ? 'yes' : 'no'}`]),
  ].join('\n')).join('\n');
}
