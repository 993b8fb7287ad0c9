import { randomUUID } from 'node:crypto';
import type { Middleware } from './chain.js';

const SANE_ID = /^[A-Za-z0-9._:+=/@-]{1,128}$/;

/** True for an incoming id worth keeping: 1-128 printable characters, no spaces or quotes. */
export function isSaneRequestId(id: string): boolean {
  return SANE_ID.test(id);
}

/**
 * Keeps a sane incoming `X-Request-Id`, otherwise generates a UUID; the proxy sends it
 * upstream and back to the client (in its own header list: `setHeader` here would make
 * node:http merge repeated response headers), and every log line about the request carries it.
 */
export function requestId(generate: () => string = randomUUID): Middleware {
  return {
    name: 'request-id',
    handle(ctx, next) {
      const raw = ctx.req.rawHeaders;
      let id: string | undefined;
      for (let i = 0; i < raw.length; i += 2) {
        const name = raw[i]!;
        if (name.length === 12 && name.toLowerCase() === 'x-request-id') {
          id = raw[i + 1];
          break;
        }
      }
      if (id === undefined || !isSaneRequestId(id)) {
        id = generate();
        // Made flat now (reading a character does it): a generated UUID is built of ~20 pieces,
        // and goes into two heads and a log line, each of which would walk them.
        id.charCodeAt(0);
      }
      ctx.id = id;
      next(ctx);
    },
  };
}
