// An example custom strategy: send each request to the backend that has served the fewest
// requests so far (ties go to the first in the pool's order).
//
//   lb --strategy-module ./examples/fewest-requests-strategy.js
//
// A strategy module default-exports a factory. The factory receives the strategy options
// ({ offset, random, now, ... }) and returns an object with:
//   name: a string, used in logs;
//   pick(snapshot, request, exclude): a Backend from `snapshot` (a frozen, non-empty array of
//     the backends that may take traffic; a new array whenever the pool changes), or
//     undefined. `exclude`, when given, holds backends this request must not go to (a retry
//     skips the one that failed): test it with exclude.has(backend).
// Each Backend has id, url, weight, effectiveWeight (what to balance by), inFlight (requests
// being proxied now), requests (since start) and latency (peak-EWMA of response time, ms).
// `request` has method, path, headers, clientIp. Keep pick() cheap and allocation-free: it runs
// once per request.

/** @param {import('l7-balancer').StrategyOptions} _options */
export default function fewestRequests(_options) {
  return {
    name: 'fewest-requests',
    /**
     * @param {readonly import('l7-balancer').Backend[]} snapshot
     * @param {import('l7-balancer').PickRequest} _request
     * @param {import('l7-balancer').Exclusion | undefined} exclude
     */
    pick(snapshot, _request, exclude) {
      let best;
      for (const backend of snapshot) {
        if (exclude !== undefined && exclude.has(backend)) continue;
        if (best === undefined || backend.requests < best.requests) best = backend;
      }
      return best;
    },
  };
}
