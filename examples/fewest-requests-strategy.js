// An example custom strategy: send each request to the backend that has served the fewest
// requests so far (ties go to the first in configured order).
//
//   lb --strategy-module ./examples/fewest-requests-strategy.js
//
// A strategy module default-exports a factory. The factory receives the strategy options
// ({ offset, random, now, ... }) and returns an object with:
//   name: a string, used in logs;
//   pick(healthy, request): a Backend from `healthy` (a frozen, non-empty array of the healthy
//     backends; a new array whenever health changes), or undefined.
// Each Backend has url, weight, inFlight (requests being proxied now), requests (since start)
// and latency (peak-EWMA of response time, ms). `request` has method, path, headers, clientIp.
// Keep pick() cheap: it runs once per request.

/** @param {import('load-balancer').StrategyOptions} _options */
export default function fewestRequests(_options) {
  return {
    name: 'fewest-requests',
    /** @param {readonly import('load-balancer').Backend[]} healthy */
    pick(healthy) {
      let best = healthy[0];
      for (const backend of healthy) if (backend.requests < best.requests) best = backend;
      return best;
    },
  };
}
