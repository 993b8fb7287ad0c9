// Answers GET /ping at the edge: the backends never see it.
//
//   HOOKS_MODULE=./examples/hooks/ping.js lb
//
// A hook module exports its phases (here onRequest only); a phase it leaves out costs nothing.

/** @type {import('l7-balancer').Hooks} */
export default {
  name: 'ping',
  onRequest(ctx) {
    if (ctx.request.url === '/ping' && (ctx.request.method === 'GET' || ctx.request.method === 'HEAD')) {
      ctx.respond(200, 'pong\n', { 'cache-control': 'no-store' });
    }
  },
};
