import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Ca {
  readonly dir: string;
  readonly certFile: string;
  readonly cert: string;
  /** Issues a certificate for `names` (DNS names and IPs), returning its PEM files. */
  issue(name: string, names: readonly string[]): { certFile: string; keyFile: string; cert: string; key: string };
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A throwaway CA made at test time with the openssl CLI; nothing is committed. */
export function createCa(): Ca {
  const dir = mkdtempSync(join(tmpdir(), 'lb-ca-'));
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', '/CN=load-balancer test CA', '-keyout', 'ca.key', '-out', 'ca.pem'], dir);
  let serial = 1;
  return {
    dir,
    certFile: join(dir, 'ca.pem'),
    cert: readFileSync(join(dir, 'ca.pem'), 'utf8'),
    issue(name, names) {
      const san = names.map((n) => (/^[\d.]+$/.test(n) || n.includes(':') ? `IP:${n}` : `DNS:${n}`)).join(',');
      writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n`);
      openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${name}`,
        '-keyout', `${name}.key`, '-out', `${name}.csr`], dir);
      openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', String(serial++),
        '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.pem`], dir);
      return {
        certFile: join(dir, `${name}.pem`),
        keyFile: join(dir, `${name}.key`),
        cert: readFileSync(join(dir, `${name}.pem`), 'utf8'),
        key: readFileSync(join(dir, `${name}.key`), 'utf8'),
      };
    },
  };
}
