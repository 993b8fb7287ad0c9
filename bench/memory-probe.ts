/**
 * Loaded into the balancer by the memory benches (`node --expose-gc --import memory-probe.js`):
 * on SIGUSR2, a full GC, then one line `MEMORY {process.memoryUsage()}` on standard error.
 */
process.on('SIGUSR2', () => {
  (globalThis as { gc?: () => void }).gc?.();
  process.stderr.write(`MEMORY ${JSON.stringify(process.memoryUsage())}\n`);
});
