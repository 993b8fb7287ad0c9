// Sends 1% of users to the `canary` pool, by user id: the same user always goes the same way
// (a hash of the id, not a coin toss), so a user does not flip between versions.
//
//   HOOKS_MODULE=./examples/hooks/canary.js lb --config canary.yaml   # pools default and canary
//
// The user id is the X-User-Id header; requests without one stay on the default route.

/** Percent of users sent to the canary (CANARY_PERCENT, default 1). */
const PERCENT = Number(process.env.CANARY_PERCENT ?? 1);

/** @type {import('l7-balancer').Hooks} */
export default {
  name: 'canary',
  onRequest(ctx) {
    const user = ctx.request.headers.get('x-user-id');
    if (user !== undefined && inCanary(user, PERCENT)) ctx.usePool('canary');
  },
};

/** Whether `user` is among the first `percent` of 10,000 buckets (FNV-1a, 32 bits). */
export function inCanary(user, percent) {
  let h = 0x811c9dc5;
  for (let i = 0; i < user.length; i++) h = Math.imul(h ^ user.charCodeAt(i), 0x01000193) >>> 0;
  return h % 10_000 < percent * 100;
}
