import { existsSync, readFileSync, statSync, unwatchFile, watchFile } from 'node:fs';
import { createSecureContext, rootCertificates, type SecureContextOptions } from 'node:tls';
import { ConfigError, type Config } from '../config/index.js';
import { isDnsBackend, type BackendTls } from '../pool/index.js';

/** Reads and checks a certificate and key; throws with a readable message when they do not make a context. */
export function loadKeyPair(certFile: string, keyFile: string): SecureContextOptions {
  const material = { cert: readFileSync(certFile), key: readFileSync(keyFile) };
  createSecureContext(material); // throws on a bad PEM or a key that does not match the certificate
  return material;
}

/**
 * Calls `onChange` when any of the files changes (or appears, or goes). Polls (`fs.watchFile`),
 * which survives editors and tools that replace a file by renaming a new one over it, where
 * `fs.watch` loses track. Changes close together (a certificate and its key) make one call.
 */
export function watchFiles(paths: readonly string[], onChange: () => void, intervalMs = 2000): () => void {
  let timer: NodeJS.Timeout | undefined;
  const changed = (cur: { mtimeMs: number }, prev: { mtimeMs: number }): void => {
    if (cur.mtimeMs === prev.mtimeMs) return;
    clearTimeout(timer);
    timer = setTimeout(onChange, 200);
  };
  // The poller takes its first look in the background, a moment after this: a file replaced in
  // between (just as the balancer starts) would be its baseline, never seen as a change. One look
  // of our own after the first interval, against the times read now, catches it.
  const mtimes = paths.map(mtimeOf);
  const first = setTimeout(() => {
    if (paths.some((path, i) => mtimeOf(path) !== mtimes[i])) changed({ mtimeMs: 1 }, { mtimeMs: 0 });
  }, intervalMs);
  first.unref();
  for (const path of paths) watchFile(path, { interval: intervalMs, persistent: false }, changed);
  return () => {
    clearTimeout(first);
    clearTimeout(timer);
    for (const path of paths) unwatchFile(path, changed);
  };
}

/** A file's modification time, 0 when it cannot be read. */
function mtimeOf(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/** Calls `onChange` when the certificate or the key changes. */
export function watchKeyPair(certFile: string, keyFile: string, onChange: () => void, intervalMs = 2000): () => void {
  return watchFiles([certFile, keyFile], onChange, intervalMs);
}

/** Where Debian/Ubuntu, Fedora/RHEL and Alpine/macOS keep the system's CA bundle. */
const SYSTEM_CA_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/cert.pem'];

/**
 * TLS for https:// backends, from BACKEND_CA_FILE, BACKEND_SERVERNAME, BACKEND_TLS_INSECURE.
 * Without a CA file, backends are verified against the system's CA bundle plus Node's own
 * (Mozilla's) roots. The trust store is parsed once, here, and only when a backend uses https.
 */
export function backendTls(config: Config): BackendTls {
  const { ca, servername, insecure } = config.backendTls;
  const rejectUnauthorized = !insecure;
  let roots: string[] | undefined;
  if (ca !== undefined) {
    try {
      roots = [readFileSync(ca, 'utf8')];
    } catch (err) {
      throw new ConfigError(`invalid BACKEND_CA_FILE ${JSON.stringify(ca)}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  // Every pool's backends: an https:// one in a pool of a config file is verified with BACKEND_CA_FILE too.
  const entries = [...config.backends, ...config.pools.flatMap((p) => p.backends)];
  if (!entries.some((b) => (isDnsBackend(b) ? b.protocol : b.url.startsWith('https:') ? 'https:' : 'http:') === 'https:')) return { secureContext: undefined, servername, rejectUnauthorized };
  if (roots === undefined) {
    const system = SYSTEM_CA_BUNDLES.find((path) => existsSync(path));
    roots = [...rootCertificates, ...(system === undefined ? [] : [readFileSync(system, 'utf8')])];
  }
  try {
    return { secureContext: createSecureContext({ ca: roots }), servername, rejectUnauthorized };
  } catch (err) {
    throw new ConfigError(`invalid BACKEND_CA_FILE ${JSON.stringify(ca ?? '')}: expected PEM certificates (${(err as Error).message})`);
  }
}

export function keyPairOrConfigError(cert: string, key: string): SecureContextOptions {
  try {
    return loadKeyPair(cert, key);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError(`invalid TLS_CERT_FILE/TLS_KEY_FILE ${JSON.stringify(`${cert}, ${key}`)}: expected a readable PEM certificate and its matching key (${e.code ?? e.message})`);
  }
}
