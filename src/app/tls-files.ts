import { statSync, unwatchFile, watchFile } from 'node:fs';
import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import type { PoolConfig } from '../config/pools.js';
import { isDnsBackend, type BackendEntry } from '../pool/index.js';
import { BackendTlsFiles } from '../tls/backend-tls.js';

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

/** Whether any of `entries` is an https:// backend (a `dns+https://` one too). */
function anyHttps(entries: readonly BackendEntry[]): boolean {
  return entries.some((b) => (isDnsBackend(b) ? b.protocol : b.url.startsWith('https:') ? 'https:' : 'http:') === 'https:');
}

/**
 * TLS for https:// backends, from BACKEND_CA_FILE, BACKEND_SERVERNAME, BACKEND_TLS_INSECURE and,
 * for mutual TLS, BACKEND_CERT_FILE and BACKEND_KEY_FILE. Without a CA file, backends are
 * verified against the system's CA bundle plus Node's own (Mozilla's) roots. The trust store is
 * parsed once, here, and only when a backend uses https (or a client certificate is set).
 */
export function backendTls(config: Config): BackendTlsFiles {
  // Every pool's backends: an https:// one in a pool of a config file is verified with BACKEND_CA_FILE too.
  return new BackendTlsFiles(config.backendTls, anyHttps([...config.backends, ...config.pools.flatMap((p) => p.backends)]));
}

/**
 * The TLS of `pool`'s backends: `global` when the pool sets nothing of its own (`tls:` in its
 * section), else its own files, named in errors as the pool's.
 */
export function poolBackendTls(pool: PoolConfig, config: Config, global: BackendTlsFiles): BackendTlsFiles {
  if (JSON.stringify(pool.backendTls) === JSON.stringify(config.backendTls)) return global;
  const labels = { ca: `tls.ca of pool ${JSON.stringify(pool.name)}`, pair: `tls.cert/tls.key of pool ${JSON.stringify(pool.name)}` };
  return new BackendTlsFiles(pool.backendTls, anyHttps(pool.backends), labels);
}

/**
 * Reads each backend TLS setting's files again when one of them changes (polled): connections
 * opened afterwards show the new certificate. Files that cannot be used keep the current ones.
 */
export function watchBackendTls(all: Iterable<BackendTlsFiles>, log: Logger): () => void {
  const unwatch: (() => void)[] = [];
  for (const tls of new Set(all)) {
    if (tls.files.length === 0 || tls.secureContext === undefined) continue;
    unwatch.push(watchFiles(tls.files, () => {
      try {
        tls.reload();
        log.info({ files: tls.files }, 'backend TLS files reloaded');
      } catch (err) {
        log.error({ files: tls.files, err: (err as Error).message }, 'backend TLS files reload failed: keeping the current ones');
      }
    }));
  }
  return () => { for (const u of unwatch) u(); };
}
