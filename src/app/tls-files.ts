import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { createSecureContext, type SecureContextOptions } from 'node:tls';

/** Reads and checks a certificate and key; throws with a readable message when they do not make a context. */
export function loadKeyPair(certFile: string, keyFile: string): SecureContextOptions {
  const material = { cert: readFileSync(certFile), key: readFileSync(keyFile) };
  createSecureContext(material); // throws on a bad PEM or a key that does not match the certificate
  return material;
}

/**
 * Calls `onChange` when either file changes. Polls (`fs.watchFile`), which survives editors and
 * tools that replace a file by renaming a new one over it, where `fs.watch` loses track.
 */
export function watchKeyPair(certFile: string, keyFile: string, onChange: () => void, intervalMs = 2000): () => void {
  let timer: NodeJS.Timeout | undefined;
  const changed = (cur: { mtimeMs: number }, prev: { mtimeMs: number }): void => {
    if (cur.mtimeMs === prev.mtimeMs) return;
    // Certificate and key are usually replaced one after the other: wait for both.
    clearTimeout(timer);
    timer = setTimeout(onChange, 200);
  };
  watchFile(certFile, { interval: intervalMs, persistent: false }, changed);
  watchFile(keyFile, { interval: intervalMs, persistent: false }, changed);
  return () => {
    clearTimeout(timer);
    unwatchFile(certFile, changed);
    unwatchFile(keyFile, changed);
  };
}
