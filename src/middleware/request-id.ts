import { randomFillSync } from 'node:crypto';
import { isHeader } from '../proxy/headers.js';
import type { Middleware } from './chain.js';

const SANE_ID = /^[A-Za-z0-9._:+=/@-]{1,128}$/;

/** True for an incoming id worth keeping: 1-128 printable characters, no spaces or quotes. */
export function isSaneRequestId(id: string): boolean {
  return SANE_ID.test(id);
}

/** UUIDs made at a time: one random fill and one string for them all. */
const UUID_BATCH = 128;
const HEX = '0123456789abcdef';
const random = Buffer.alloc(16 * UUID_BATCH);
const text = Buffer.alloc(36 * UUID_BATCH);
let uuids = '';
let nextUuid = UUID_BATCH;

/**
 * A random (version 4) UUID, as `crypto.randomUUID()` makes it, but made a batch at a time: the
 * random bytes of 128 UUIDs are written out as text into one buffer, decoded as one string, and
 * each UUID is a slice of it. A slice is a flat string, which two heads and a log line copy
 * directly; `randomUUID()` builds each of its UUIDs from 20 pieces.
 */
export function uuid(): string {
  if (nextUuid === UUID_BATCH) {
    randomFillSync(random);
    let at = 0;
    for (let i = 0; i < UUID_BATCH; i++) {
      const r = i * 16;
      random[r + 6] = (random[r + 6]! & 0x0f) | 0x40; // version 4
      random[r + 8] = (random[r + 8]! & 0x3f) | 0x80; // the RFC 9562 variant
      for (let b = 0; b < 16; b++) {
        if (b === 4 || b === 6 || b === 8 || b === 10) text[at++] = 0x2d; // '-'
        const byte = random[r + b]!;
        text[at++] = HEX.charCodeAt(byte >> 4);
        text[at++] = HEX.charCodeAt(byte & 0x0f);
      }
    }
    uuids = text.toString('latin1');
    nextUuid = 0;
  }
  const start = nextUuid * 36;
  nextUuid++;
  return uuids.slice(start, start + 36);
}

/**
 * Keeps a sane incoming `X-Request-Id`, otherwise generates a UUID; the proxy sends it
 * upstream and back to the client (in its own header list: `setHeader` here would make
 * node:http merge repeated response headers), and every log line about the request carries it.
 */
export function requestId(generate: () => string = uuid): Middleware {
  return {
    name: 'request-id',
    handle(ctx, next) {
      const raw = ctx.req.rawHeaders;
      let id: string | undefined;
      for (let i = 0; i < raw.length; i += 2) {
        const name = raw[i]!;
        if (isHeader(name, 'x-request-id')) {
          id = raw[i + 1];
          break;
        }
      }
      if (id === undefined || !isSaneRequestId(id)) {
        id = generate();
        // Made flat now (reading a character does it), if it is not: it goes into two heads and
        // a log line, each of which would otherwise walk its pieces.
        id.charCodeAt(0);
      }
      ctx.id = id;
      next(ctx);
    },
  };
}
