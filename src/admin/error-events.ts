import type { RequestContext } from '../context/index.js';
import type { Middleware } from '../middleware/index.js';
import type { EventLog } from './events.js';

/** Error events recorded per second at most: a failing backend must not push everything else out of the timeline. */
export const ERROR_EVENTS_PER_SECOND = 5;

/**
 * The middleware that puts each request answered 5xx on the event timeline, with its request
 * id, trace id (when traced) and what explains it (status, error code, backend, tries, route,
 * and the full explanation when the request asked for one): the dashboard links it to the
 * trace viewer (TRACE_URL_TEMPLATE). Bounded to ERROR_EVENTS_PER_SECOND; those beyond are
 * counted in the next one recorded. Nothing runs for a request below 500.
 */
export function recordErrors(events: EventLog, now: () => number = Date.now): Middleware {
  let second = -1;
  let recorded = 0;
  let skipped = 0;
  return {
    name: 'error-events',
    onEnd(ctx) {
      if (ctx.status < 500) return;
      const s = Math.floor(now() / 1000);
      if (s !== second) {
        second = s;
        recorded = 0;
      }
      if (recorded >= ERROR_EVENTS_PER_SECOND) {
        skipped++;
        return;
      }
      recorded++;
      const more = skipped === 0 ? '' : ` (${skipped} more not shown)`;
      skipped = 0;
      events.add({
        kind: 'error',
        ...(ctx.backend === undefined ? {} : { backend: ctx.backend.id }),
        message: `${ctx.status} ${ctx.method} ${ctx.path}${ctx.error === undefined ? '' : ` ${ctx.error.code}`}${more}`,
        requestId: ctx.id,
        ...(ctx.traceId === undefined ? {} : { traceId: ctx.traceId }),
        explain: explain(ctx),
      });
    },
  };
}

/** What the timeline shows when an error is opened: the request's explanation, or its outline. */
function explain(ctx: RequestContext): string {
  if (ctx.explain !== undefined) return JSON.stringify(ctx.explain);
  const parts = [`status ${ctx.status}`];
  if (ctx.error !== undefined) parts.push(`error ${ctx.error.code}: ${ctx.error.message}`);
  parts.push(`backend ${ctx.backend?.id ?? 'none'}`, `tries ${ctx.tries}`);
  if (ctx.route !== '') parts.push(`route ${ctx.route}`);
  parts.push(`pool ${ctx.pool}`);
  if (ctx.routeReason !== '') parts.push(ctx.routeReason);
  return parts.join(', ');
}
