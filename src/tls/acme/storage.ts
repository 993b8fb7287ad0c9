import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

/** A certificate chain and its private key, as PEM text. */
export interface KeyPair {
  readonly cert: string;
  readonly key: string;
}

const KEY_BLOCK = /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]+?-----END [A-Z ]*PRIVATE KEY-----\s*/;
const CERT_BLOCKS = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\s*/g;

/**
 * ACME_STORAGE: `account.key`, one `<name>.pem` per certificate (its key, then its chain, in one
 * file so that one rename replaces both at once) and `order.lock`. Every file is written with
 * mode 0600 to a temporary name in the same directory and renamed over the old one, so a reader
 * (this process after a crash, another instance on a shared volume) sees the old file or the new
 * one, never half of either.
 */
export class AcmeStorage {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Creates the directory (0700) if it is not there. */
  prepare(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  readAccountKey(): string | undefined {
    return this.#read('account.key');
  }

  writeAccountKey(pem: string): void {
    this.#write('account.key', pem);
  }

  /** The stored certificate for `name`, when there is a whole one. */
  readCertificate(name: string): KeyPair | undefined {
    const text = this.#read(`${name}.pem`);
    if (text === undefined) return undefined;
    const key = KEY_BLOCK.exec(text)?.[0];
    const cert = text.match(CERT_BLOCKS)?.join('');
    return key === undefined || cert === undefined ? undefined : { cert, key };
  }

  writeCertificate(name: string, pair: KeyPair): void {
    this.#write(`${name}.pem`, `${pair.key.trimEnd()}\n${pair.cert.trimEnd()}\n`);
  }

  /**
   * Takes the order lock: `order.lock` created with O_EXCL (atomic on a local disk and on NFSv3+),
   * holding who took it. A lock older than `staleMs` (its holder died mid-order) is removed and
   * taken. Undefined when another instance holds it.
   */
  lock(staleMs: number, now = Date.now()): OrderLock | undefined {
    const path = join(this.dir, 'order.lock');
    const owner = `${hostname()} ${process.pid} ${randomBytes(6).toString('hex')}`;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(path, 'wx', 0o600);
        writeSync(fd, `${owner}\n`);
        closeSync(fd);
        return new OrderLock(path, owner);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      let age: number;
      try {
        age = now - statSync(path).mtimeMs;
      } catch {
        continue; // released meanwhile: try again
      }
      if (age < staleMs) return undefined;
      try { unlinkSync(path); } catch { /* another instance took it over first */ }
    }
    return undefined;
  }

  #read(file: string): string | undefined {
    try {
      return readFileSync(join(this.dir, file), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  #write(file: string, text: string): void {
    const path = join(this.dir, file);
    const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const fd = openSync(temp, 'wx', 0o600);
    try {
      writeSync(fd, text);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  }
}

/** The order lock while held; `release` removes it if it is still this holder's. */
export class OrderLock {
  readonly #path: string;
  readonly #owner: string;

  constructor(path: string, owner: string) {
    this.#path = path;
    this.#owner = owner;
  }

  release(): void {
    try {
      if (readFileSync(this.#path, 'utf8').trim() === this.#owner) unlinkSync(this.#path);
    } catch {
      // Gone already (taken over as stale): nothing to release.
    }
  }
}
