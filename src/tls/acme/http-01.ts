import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Middleware } from '../../middleware/index.js';
import { answer } from '../../routing/compiled-route.js';
import type { Challenges } from './challenges.js';

/**
 * Answers HTTP-01 validation requests (`GET /.well-known/acme-challenge/<token>`) before routing,
 * on every listener and engine (the chain is theirs). A path of the prefix whose token is not
 * pending goes on as any request does: a backend may run its own ACME client.
 */
export function acmeHttpChallenge(challenges: Challenges): Middleware {
  return {
    name: 'acme-http-01',
    handle(ctx, next) {
      const keyAuthorization = challenges.httpAnswer(ctx.path);
      if (keyAuthorization === undefined) {
        next(ctx);
        return;
      }
      ctx.log.info({ path: ctx.path }, 'ACME HTTP-01 challenge answered');
      answer(ctx, 200, Buffer.from(keyAuthorization), { headers: [], contentType: 'application/octet-stream' });
    },
  };
}

/** The same answer where no chain runs (the listener that redirects to HTTPS): true when it answered. */
export function answerHttpChallenge(challenges: Challenges, req: IncomingMessage, res: ServerResponse): boolean {
  const keyAuthorization = challenges.httpAnswer(req.url ?? '/');
  if (keyAuthorization === undefined) return false;
  req.resume();
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': Buffer.byteLength(keyAuthorization) }).end(keyAuthorization);
  return true;
}
