const mod = process.argv[2];
function bench() {
  return new Promise((resolve) => {
    const N = 2e6; let n = 0; const t0 = process.hrtime.bigint();
    function tick() { if (++n < N) { process.nextTick(tick); } else resolve(Number(process.hrtime.bigint() - t0) / N); }
    process.nextTick(tick);
  });
}
await bench();
const a = await bench();
if (mod) await import(mod);
await bench();
const b = await bench();
console.log(mod ?? '(none)', a.toFixed(1), '->', b.toFixed(1), 'ns/tick');
