// A/B test by cookie: requests with `ab=b` go to pool `b`, with `ab=a` to pool `a`; a client
// without the cookie is assigned a side from its address (the same address, the same side) and
// told with a Set-Cookie on the response, so it stays there.
//
//   HOOKS_MODULE=./examples/hooks/ab-cookie.js lb --config ab.yaml   # pools a and b
//
// The side chosen in onRequest travels to onResponse in the request's own `state`.

const COOKIE = 'ab';

/** @returns {import('l7-balancer').Hooks} */
export default function abCookie() {
  return {
    name: 'ab-cookie',
    onRequest(ctx) {
      let side = cookie(ctx.request.headers.get('cookie'), COOKIE);
      if (side !== 'a' && side !== 'b') {
        side = hash(ctx.clientAddress) % 2 === 0 ? 'a' : 'b';
        ctx.state.assigned = side;
      }
      ctx.usePool(side);
    },
    onResponse(ctx, head) {
      if (ctx.state.assigned !== undefined) head.headers.append('set-cookie', `${COOKIE}=${ctx.state.assigned}; Path=/; HttpOnly; SameSite=Lax`);
    },
  };
}

/** The value of cookie `name` in a Cookie header, or undefined. */
function cookie(header, name) {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** FNV-1a, 32 bits: the same text always lands on the same side. */
function hash(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
