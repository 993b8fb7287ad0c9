/**
 * The targets of `npm run bench:peers`: the balancer and nginx, HAProxy and Caddy configured as a
 * user would run them in front of the same three backends (round robin, upstream keep-alive, no
 * access log for the peers, one worker, room for 10,000 clients), over plain HTTP or TLS with
 * the same RSA-2048 certificate. A peer that is not installed is left out and named.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Listen } from './modes.js';

/** The gzip level every target compresses at in the gzip mode: the balancer's default (COMPRESSION_LEVEL gzip:5). */
export const GZIP_LEVEL = 5;
import { versionOf } from './process.js';

export interface Launch { readonly command: string[]; readonly env: Record<string, string> }

export interface Target {
  readonly name: string;
  /** nginx: the target the ratios are taken against. */
  readonly isNginx: boolean;
  /**
   * The command and environment that serve `listen` on `port`, its files written under the work
   * folder; with `gzip`, answers are compressed with gzip at GZIP_LEVEL for clients that offer it.
   */
  launch(listen: Listen, gzip?: boolean): Launch;
}

export interface TargetSetup {
  readonly workDir: string;
  readonly port: number;
  readonly backendPorts: readonly number[];
  /** The balancer's entry point (dist/src/cli.js) and the Node.js binary it runs on. */
  readonly cli: string;
  readonly node: string;
  /** The certificate and key for the TLS modes (see `makeCertificate`). */
  readonly cert: string;
  readonly key: string;
}

/** A self-signed RSA-2048 certificate for 127.0.0.1 and localhost (as the issue's measurements used); undefined without openssl. */
export function makeCertificate(workDir: string): { cert: string; key: string } | undefined {
  const cert = join(workDir, 'cert.pem');
  const key = join(workDir, 'key.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
  return r.status === 0 ? { cert, key } : undefined;
}

/** The balancer, then each installed peer; `missing` gets a line per peer left out. */
export function benchTargets(setup: TargetSetup, missing: (line: string) => void): Target[] {
  const found: Target[] = [balancer(setup)];
  const peers: Array<[string, string, string, (version: string) => Target]> = [
    ['nginx', '-v', 'nginx', (v) => nginx(setup, v)],
    ['haproxy', '-v', 'haproxy', (v) => haproxy(setup, v)],
    ['caddy', 'version', 'caddy', (v) => caddy(setup, v)],
  ];
  for (const [bin, arg, pkg, make] of peers) {
    const version = versionOf(bin, arg);
    if (version === undefined) missing(`bench: ${bin} is not installed, left out of every mode (apt-get install ${pkg})`);
    else found.push(make(version));
  }
  return found;
}

function balancer(s: TargetSetup): Target {
  return {
    name: 'load-balancer',
    isNginx: false,
    launch: (listen, gzip = false) => ({
      command: [s.node, s.cli],
      env: {
        PORT: String(s.port), HOST: '127.0.0.1', BACKENDS: s.backendPorts.map((p) => `http://127.0.0.1:${p}`).join(','),
        // The memory mode's idle clients stay open while they are counted.
        CLIENT_IDLE_TIMEOUT: '10m',
        ...(listen === 'tls' ? { TLS_CERT_FILE: s.cert, TLS_KEY_FILE: s.key } : {}),
        ...(gzip ? { COMPRESSION: 'gzip', COMPRESSION_LEVEL: `gzip:${GZIP_LEVEL}` } : {}),
      },
    }),
  };
}

function nginx(s: TargetSetup, version: string): Target {
  return {
    name: `nginx ${version}`,
    isNginx: true,
    launch: (listen, gzip = false) => {
      const file = join(s.workDir, 'nginx.conf');
      const tls = listen === 'tls'
        ? [`listen 127.0.0.1:${s.port} ssl http2;`, `ssl_certificate ${s.cert};`, `ssl_certificate_key ${s.key};`, 'ssl_session_cache shared:SSL:10m;']
        : [`listen 127.0.0.1:${s.port};`];
      writeFileSync(file, [
        'worker_processes 1;', 'worker_rlimit_nofile 30000;', 'daemon off;', `pid ${join(s.workDir, 'nginx.pid')};`, 'error_log stderr error;',
        'events { worker_connections 25000; }',
        'http {', '  access_log off;', '  keepalive_timeout 600s;',
        // 1,000 by default: h2load's streams past it on a connection fail (GOAWAY), and wrk reconnects.
        '  keepalive_requests 1000000;', '  client_max_body_size 2m;',
        `  client_body_temp_path ${s.workDir};`, `  proxy_temp_path ${s.workDir};`,
        // gzip_proxied: answers to requests that came through another proxy (a Via header) too, as the others do.
        ...(gzip ? [`  gzip on; gzip_comp_level ${GZIP_LEVEL}; gzip_types text/plain; gzip_proxied any;`] : []),
        `  upstream backends { ${s.backendPorts.map((p) => `server 127.0.0.1:${p};`).join(' ')} keepalive 64; }`,
        `  server { ${tls.join(' ')} location / { proxy_pass http://backends; proxy_http_version 1.1; proxy_set_header Connection ""; } }`,
        '}', '',
      ].join('\n'));
      return { command: ['nginx', '-e', 'stderr', '-p', s.workDir, '-c', file], env: {} };
    },
  };
}

function haproxy(s: TargetSetup, version: string): Target {
  return {
    name: `haproxy ${version}`,
    isNginx: false,
    launch: (listen, gzip = false) => {
      const file = join(s.workDir, 'haproxy.cfg');
      const pem = join(s.workDir, 'haproxy.pem');
      if (listen === 'tls') writeFileSync(pem, readFileSync(s.cert, 'utf8') + readFileSync(s.key, 'utf8'));
      writeFileSync(file, [
        'global', '  nbthread 1', `  maxconn ${haproxyMaxConn()}`,
        'defaults', '  mode http', '  timeout connect 5s', '  timeout client 10m', '  timeout server 30s', '  option http-keep-alive',
        'frontend lb', `  bind 127.0.0.1:${s.port}${listen === 'tls' ? ` ssl crt ${pem} alpn h2,http/1.1` : ''}`, '  default_backend backends',
        'backend backends', '  balance roundrobin', '  http-reuse always',
        // Debian's build compresses with libslz, which has no levels (about zlib's level 1 in ratio).
        ...(gzip ? ['  compression algo gzip', '  compression type text/plain'] : []),
        ...s.backendPorts.map((p, i) => `  server b${i + 1} 127.0.0.1:${p}`), '',
      ].join('\n'));
      return { command: ['haproxy', '-db', '-f', file], env: {} };
    },
  };
}

/**
 * HAProxy refuses to start when its connections (two descriptors each, client and server side)
 * need more descriptors than the hard limit allows: as many as fit, up to 15,000.
 */
function haproxyMaxConn(): number {
  const hard = Number(spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).stdout?.trim());
  return Number.isFinite(hard) && hard > 0 ? Math.min(15_000, Math.floor((hard - 20) / 2)) : 15_000;
}

function caddy(s: TargetSetup, version: string): Target {
  return {
    name: `caddy ${version}`,
    isNginx: false,
    launch: (listen, gzip = false) => {
      const file = join(s.workDir, 'Caddyfile');
      const upstreams = s.backendPorts.map((p) => `127.0.0.1:${p}`).join(' ');
      writeFileSync(file, [
        // default_sni: a client that sends no server name (openssl s_time to an address) still gets the certificate.
        '{', '\tadmin off', '\tauto_https off', '\tdefault_sni localhost', '\tservers {', '\t\tprotocols h1 h2', '\t}', '\tlog default {', '\t\tlevel ERROR', '\t}', '}', '',
        `${listen === 'tls' ? 'https' : 'http'}://:${s.port} {`, '\tbind 127.0.0.1',
        ...(listen === 'tls' ? [`\ttls ${s.cert} ${s.key}`] : []),
        ...(gzip ? [`\tencode {`, `\t\tgzip ${GZIP_LEVEL}`, '\t}'] : []),
        `\treverse_proxy ${upstreams} {`, '\t\tlb_policy round_robin', '\t}', '}', '',
      ].join('\n'));
      // Go sizes its thread pool from the CPUs it may use: the one it is pinned to.
      return { command: ['caddy', 'run', '--config', file, '--adapter', 'caddyfile'], env: { HOME: s.workDir } };
    },
  };
}
