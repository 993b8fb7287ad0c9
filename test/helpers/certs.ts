import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A certificate and its key, as PEM files and their contents. */
export interface Issued {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string;
  readonly key: string;
}

export interface Ca {
  readonly dir: string;
  readonly certFile: string;
  readonly cert: string;
  /** Issues a server certificate for `names` (DNS names and IPs): `issue` with the names as SANs. */
  issue(name: string, names: readonly string[]): Issued;
}

export interface IssueOptions {
  /** An RSA 2048 key rather than EC P-256. */
  readonly rsa?: boolean;
  /** What the certificate is for (extendedKeyUsage); a server by default. */
  readonly usage?: 'server' | 'client' | 'both';
}

/** Serial numbers of the certificates issued here: unique across every CA made in a test process. */
let serial = 1;

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A throwaway CA made at test time with the openssl CLI; nothing is committed. */
export function createCa(): Ca {
  const dir = mkdtempSync(join(tmpdir(), 'lb-ca-'));
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', '/CN=load-balancer test CA', '-keyout', 'ca.key', '-out', 'ca.pem'], dir);
  const ca: Ca = {
    dir,
    certFile: join(dir, 'ca.pem'),
    cert: readFileSync(join(dir, 'ca.pem'), 'utf8'),
    issue: (name, names) => issue(ca, name, names.map((n) => (/^[\d.]+$/.test(n) || n.includes(':') ? `IP:${n}` : `DNS:${n}`))),
  };
  return ca;
}

/**
 * Issues a certificate from `ca` with the openssl CLI: subject CN=`name`, `sans` written as
 * openssl says them (`DNS:a.example`, `URI:spiffe://x/y`, `IP:127.0.0.1`), an EC P-256 key
 * unless `rsa`, for a server, a client or both (`usage`).
 */
export function issue(ca: Ca, name: string, sans: readonly string[], options: IssueOptions = {}): Issued {
  const dir = ca.dir;
  const eku = { server: 'serverAuth', client: 'clientAuth', both: 'serverAuth,clientAuth' }[options.usage ?? 'server'];
  writeFileSync(join(dir, `${name}.ext`), `${sans.length === 0 ? '' : `subjectAltName=${sans.join(',')}\n`}basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=${eku}\n`);
  const key = options.rsa === true ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  openssl(['req', ...key, '-nodes', '-subj', `/O=Example/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`], dir);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', String(serial++),
    '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.pem`], dir);
  return {
    certFile: join(dir, `${name}.pem`),
    keyFile: join(dir, `${name}.key`),
    cert: readFileSync(join(dir, `${name}.pem`), 'utf8'),
    key: readFileSync(join(dir, `${name}.key`), 'utf8'),
  };
}
