import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Ca } from './certs.js';

export interface Issued {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string;
  readonly key: string;
}

let serial = 1000;

/**
 * Issues a certificate from `ca` (made by createCa) with the openssl CLI: subject CN=`name`,
 * `sans` written as openssl says them (`DNS:a.example`, `URI:spiffe://x/y`, `IP:127.0.0.1`), an
 * EC P-256 key unless `rsa`, for a server, a client or both (`usage`).
 */
export function issue(ca: Ca, name: string, sans: readonly string[], options: { rsa?: boolean; usage?: 'server' | 'client' | 'both' } = {}): Issued {
  const dir = ca.dir;
  const eku = { server: 'serverAuth', client: 'clientAuth', both: 'serverAuth,clientAuth' }[options.usage ?? 'server'];
  writeFileSync(join(dir, `${name}.ext`), `${sans.length === 0 ? '' : `subjectAltName=${sans.join(',')}\n`}basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=${eku}\n`);
  const key = options.rsa === true ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  run(['req', ...key, '-nodes', '-subj', `/O=Example/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`], dir);
  run(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', String(serial++),
    '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.pem`], dir);
  return {
    certFile: join(dir, `${name}.pem`),
    keyFile: join(dir, `${name}.key`),
    cert: readFileSync(join(dir, `${name}.pem`), 'utf8'),
    key: readFileSync(join(dir, `${name}.key`), 'utf8'),
  };
}

function run(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}
