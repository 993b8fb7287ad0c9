import type { Logger } from 'pino';
import type { Middleware } from './chain.js';

/** One line per request when it ends: id, method, path, status, bytes, duration, backend. */
export function accessLog(log: Logger): Middleware {
  return {
    name: 'access-log',
    onEnd(ctx) {
      if (!log.isLevelEnabled('info')) return;
      log.info({
        reqId: ctx.id,
        method: ctx.method,
        path: ctx.path,
        status: ctx.status,
        bytes: ctx.bytes,
        ms: Math.round(ctx.duration * 1000) / 1000,
        backend: ctx.backend?.url,
        client: ctx.clientIp,
        error: ctx.error?.code,
      }, 'request');
    },
  };
}
