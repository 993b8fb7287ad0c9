import { readFileSync } from 'node:fs';
import { ConfigError } from '../../config/errors.js';
import type { HtpasswdUser } from './auth-spec.js';

const BCRYPT = /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/;

/**
 * Reads an htpasswd file of bcrypt hashes (`htpasswd -B`: `$2y$`, also `$2a$` and `$2b$`).
 * Blank lines and `#` comments are skipped. Any other hash (MD5 `$apr1$`, SHA1 `{SHA}`, crypt,
 * plain text) is refused: they are fast to brute-force, and refusing them at load is better
 * than a user who can never log in. Throws ConfigError naming the file and the line.
 */
export function readHtpasswd(path: string, what: string): HtpasswdUser[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`${what}: cannot read the htpasswd file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseHtpasswd(text, path, what);
}

export function parseHtpasswd(text: string, path: string, what: string): HtpasswdUser[] {
  const users: HtpasswdUser[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    const where = `${what}: htpasswd file ${path} line ${i + 1}`;
    if (colon <= 0) throw new ConfigError(`${where}: expected user:hash`);
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    if (!BCRYPT.test(hash)) {
      throw new ConfigError(`${where} (user ${JSON.stringify(user)}): expected a bcrypt hash ($2y$, $2a$ or $2b$; made with htpasswd -B), not ${kindOf(hash)}`);
    }
    if (users.some((u) => u.user === user)) throw new ConfigError(`${where}: user ${JSON.stringify(user)} is listed twice`);
    users.push({ user, hash });
  }
  return users;
}

function kindOf(hash: string): string {
  if (hash.startsWith('$apr1$')) return 'an Apache MD5 ($apr1$) hash';
  if (hash.startsWith('{SHA}')) return 'a SHA-1 ({SHA}) hash';
  if (hash.startsWith('$1$') || hash.startsWith('$5$') || hash.startsWith('$6$')) return 'a crypt(3) hash';
  if (hash.startsWith('$2')) return 'a malformed bcrypt hash';
  return 'plain text or a crypt hash';
}
