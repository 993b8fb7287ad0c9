import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { request } from 'node:https';
import { connect } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa } from './certs.js';
import { TestDnsServer } from './dns-server.js';
import { freePort } from './lb.js';

/** Why the ACME tests cannot run here, or undefined when Debian's pebble is installed. */
export function pebbleMissing(): string | undefined {
  const found = spawnSync('pebble', ['-h'], { stdio: 'ignore' });
  return found.error === undefined ? undefined : 'Debian\'s pebble (the ACME test server) is not installed: apt-get install pebble';
}

export interface Pebble {
  /** The ACME directory URL (HTTPS, under `caFile`'s certificate). */
  readonly directory: string;
  /** What ACME_CA_FILE takes to trust the directory. */
  readonly caFile: string;
  /** Pebble's root CA of the certificates it issues (PEM). */
  roots(): Promise<string>;
  /** Everything pebble printed so far. */
  output(): string;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => { for (const proc of running) proc.kill('SIGKILL'); });

/**
 * Starts pebble on free loopback ports: it validates HTTP-01 on `httpPort` and TLS-ALPN-01 on
 * `tlsPort` of 127.0.0.1, where `names` resolve (a DNS stub of the test's own), without its
 * random validation delays and without rejecting nonces. `validitySeconds` sets the lifetime of
 * what it issues.
 */
export async function startPebble(options: { httpPort: number; tlsPort: number; names: readonly string[]; validitySeconds?: number }): Promise<Pebble> {
  const dir = mkdtempSync(join(tmpdir(), 'lb-pebble-'));
  const ca = createCa();
  const server = ca.issue('pebble', ['localhost', '127.0.0.1']);
  const dns = await TestDnsServer.start();
  for (const name of options.names) dns.zone.set(name, { a: ['127.0.0.1'] });
  const [port, management] = [await freePort(), await freePort()];
  const config = join(dir, 'pebble.json');
  writeFileSync(config, JSON.stringify({
    pebble: {
      listenAddress: `127.0.0.1:${port}`,
      managementListenAddress: `127.0.0.1:${management}`,
      certificate: server.certFile,
      privateKey: server.keyFile,
      httpPort: options.httpPort,
      tlsPort: options.tlsPort,
      ocspResponderURL: '',
      externalAccountBindingRequired: false,
      ...(options.validitySeconds === undefined ? {} : { certificateValidityPeriod: options.validitySeconds }),
    },
  }));
  const proc = spawn('pebble', ['-config', config, '-dnsserver', dns.address, '-strict=false'], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(proc);
  let out = '';
  const ready = new Promise<void>((resolve, reject) => {
    const seen = (chunk: Buffer): void => {
      out += chunk.toString('utf8');
      if (out.includes('Listening on')) resolve();
    };
    proc.stdout!.on('data', seen);
    proc.stderr!.on('data', seen);
    proc.once('exit', (code) => reject(new Error(`pebble exited (${code}) first: ${out}`)));
  });
  await ready;
  // It says so just before it binds: wait until the directory's port takes a connection (bounded).
  for (let attempt = 0; attempt < 200 && !(await accepts(port)); attempt++);
  const get = (path: string): Promise<string> => new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: management, path, ca: ca.cert }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => { body += c; }).on('end', () => resolve(body));
    });
    req.on('error', reject).end();
  });
  return {
    directory: `https://127.0.0.1:${port}/dir`,
    caFile: ca.certFile,
    roots: () => get('/roots/0'),
    output: () => out,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        await once(proc, 'exit');
      }
      running.delete(proc);
      await dns.close();
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}
