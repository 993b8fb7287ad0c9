// Puts the caller's API key in the access line, masked: only its last four characters show
// (`"apiKey":"****cdef"`), enough to tell keys apart, never enough to use one.
//
//   HOOKS_MODULE=./examples/hooks/mask-log.js lb

const HEADER = 'x-api-key';

/** @type {import('l7-balancer').Hooks} */
export default {
  name: 'mask-log',
  onLog(ctx, line) {
    const key = ctx.request.headers.get(HEADER);
    if (key !== undefined) line.apiKey = mask(key);
  },
};

/** `****` and the last four characters (all masked when shorter than eight). */
export function mask(value) {
  return value.length < 8 ? '****' : `****${value.slice(-4)}`;
}
