import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { createSecureContext, type SecureContextOptions } from 'node:tls';

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
  for (const path of paths) watchFile(path, { interval: intervalMs, persistent: false }, changed);
  return () => {
    clearTimeout(timer);
    for (const path of paths) unwatchFile(path, changed);
  };
}

/** Calls `onChange` when the certificate or the key changes. */
export function watchKeyPair(certFile: string, keyFile: string, onChange: () => void, intervalMs = 2000): () => void {
  return watchFiles([certFile, keyFile], onChange, intervalMs);
}
