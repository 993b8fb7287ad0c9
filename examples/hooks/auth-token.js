// Adds `Authorization: Bearer <token>` to every request sent to a backend, from a local token
// cache: the token is read from a file (UPSTREAM_TOKEN_FILE, default ./upstream-token) when
// first needed, and again once it is older than TOKEN_TTL_MS (default 60 s): a request
// reads it from memory, synchronously. Whatever Authorization the client sent is replaced.
//
//   UPSTREAM_TOKEN_FILE=/run/secrets/backend-token HOOKS_MODULE=./examples/hooks/auth-token.js lb

import { readFileSync } from 'node:fs';

/** @param {{ log: import('pino').Logger }} options @returns {import('l7-balancer').Hooks} */
export default function authToken({ log }) {
  const file = process.env.UPSTREAM_TOKEN_FILE ?? './upstream-token';
  const ttl = Number(process.env.TOKEN_TTL_MS ?? 60_000);
  const cache = new TokenCache(() => readFileSync(file, 'utf8').trim(), ttl, log);
  return {
    name: 'auth-token',
    onUpstreamRequest(_ctx, head) {
      head.headers.set('authorization', `Bearer ${cache.get()}`);
    },
  };
}

/** One token, read again once older than `ttl` ms; a failed read keeps the last token. */
export class TokenCache {
  #read;
  #ttl;
  #log;
  #now;
  #token = undefined;
  #readAt = -Infinity;

  constructor(read, ttl, log, now = () => performance.now()) {
    this.#read = read;
    this.#ttl = ttl;
    this.#log = log;
    this.#now = now;
  }

  get() {
    const now = this.#now();
    if (this.#token === undefined || now - this.#readAt >= this.#ttl) {
      try {
        this.#token = this.#read();
        this.#readAt = now;
      } catch (err) {
        // With no token at all the hook throws: the request gets a 500 (LB_ERR_HOOK_FAILED), not an unauthenticated try.
        if (this.#token === undefined) throw err;
        this.#readAt = now;
        this.#log.warn({ err: err.message }, 'cannot read the upstream token again: keeping the last one');
      }
    }
    return this.#token;
  }
}
