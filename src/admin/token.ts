import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * ADMIN_TOKEN, kept as its SHA-256 digest: a token given is compared as a digest, so the
 * comparison takes the same time whatever its length or content.
 */
export class AdminToken {
  readonly #digest: Buffer;

  constructor(token: string) {
    this.#digest = digest(token);
  }

  matches(given: string): boolean {
    return timingSafeEqual(digest(given), this.#digest);
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
