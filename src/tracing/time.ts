import { performance } from 'node:perf_hooks';

/** performance.now() milliseconds as nanoseconds since the Unix epoch (OTLP's times), to the microsecond. */
export function epochNanos(ms: number): bigint {
  const micros = Math.round((performance.timeOrigin + ms) * 1000);
  return BigInt(micros) * 1000n;
}
