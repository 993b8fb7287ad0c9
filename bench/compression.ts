/**
 * `npm run bench:compression`: the CPU cost of compressing a response body, per KiB of input,
 * for each coding at its default level and a few others, through the same streaming Encoder the
 * proxy uses (64 KiB chunks, as a backend's body arrives). The body is 64 KiB of JSON-like text
 * (an API listing: repeated keys, varied values), sent 200 times per row.
 */
import { Encoder, DEFAULT_LEVELS, ENCODINGS, ZSTD_AVAILABLE, type Encoding } from '../src/proxy/compression/index.js';

const ROUNDS = 200;
const BODY = jsonBody(64 * 1024);

/** Deterministic JSON-like text of `bytes` bytes (a small LCG, so every run compresses the same input). */
function jsonBody(bytes: number): Buffer {
  let seed = 42;
  const next = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet'];
  let text = '[';
  for (let i = 0; text.length < bytes; i++) {
    text += `{"id":${next()},"name":"${words[next() % 10]} ${words[next() % 10]}","price":${(next() % 100000) / 100},"tags":["${words[next() % 10]}","${words[next() % 10]}"],"updated":"2026-12-${String(1 + (next() % 28)).padStart(2, '0')}T${String(next() % 24).padStart(2, '0')}:00:00Z"},\n`;
  }
  return Buffer.from(text.slice(0, bytes));
}

/** Compresses BODY once through an Encoder; resolves with the compressed size. */
function once(encoding: Encoding, level: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let out = 0;
    const encoder = new Encoder(encoding, level, false, {
      output: (chunk) => { out += chunk.length; return true; },
      finished: () => resolve(out),
      ready: () => undefined,
      failed: reject,
    });
    encoder.write(BODY);
    encoder.end();
  });
}

const rows: [Encoding, number][] = [];
for (const encoding of ENCODINGS) {
  if (encoding === 'zstd' && !ZSTD_AVAILABLE) continue;
  const levels = encoding === 'gzip' ? [1, DEFAULT_LEVELS.gzip, 6, 9] : encoding === 'br' ? [1, DEFAULT_LEVELS.br, 6, 11] : [1, DEFAULT_LEVELS.zstd, 9];
  for (const level of [...new Set(levels)]) rows.push([encoding, level]);
}

process.stdout.write(`node ${process.version}, body ${BODY.length / 1024} KiB JSON-like text, ${ROUNDS} rounds per row (CPU time of this process; zlib runs on the thread pool)\n`);
process.stdout.write('coding  level  ratio   CPU µs/KiB  MiB/s per core\n');
for (const [encoding, level] of rows) {
  await once(encoding, level); // warm-up
  const start = process.cpuUsage();
  let size = 0;
  for (let i = 0; i < ROUNDS; i++) size = await once(encoding, level);
  const cpu = process.cpuUsage(start);
  const micros = cpu.user + cpu.system;
  const kib = (BODY.length / 1024) * ROUNDS;
  const perKiB = micros / kib;
  const mark = level === DEFAULT_LEVELS[encoding] ? '*' : ' ';
  process.stdout.write(`${encoding.padEnd(6)}  ${String(level).padStart(2)}${mark}    ${(BODY.length / size).toFixed(1).padStart(5)}  ${perKiB.toFixed(2).padStart(10)}  ${(1e6 / perKiB / 1024).toFixed(0).padStart(14)}\n`);
}
process.stdout.write('* the default level\n');
