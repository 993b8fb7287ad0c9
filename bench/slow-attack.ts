/**
 * `npm run bench:slow-attack`: the balancer's memory through slow-client attacks and after them
 * (slowhttptest's three, driven from here on 127.0.0.1, `--connections` each): slow headers
 * (slowloris: a head that never ends, a line every `--interval` seconds), slow bodies (a
 * Content-Length body sent a few bytes at a time) and slow reads (1 MiB responses read not at
 * all). For each phase it prints the balancer's process.memoryUsage() after a full GC: RSS, the
 * V8 heap, `external` (Buffers and other memory V8 knows of but does not hold) and what is left
 * (RSS less heap and external: the allocator, code, stacks), so that memory not given back can
 * be told apart: a heap still full, Buffers still referenced, or the allocator keeping what was
 * freed. The last line is the balancer two minutes (`--after`) after the attack.
 *
 *   [MALLOC_ARENA_MAX=2] npm run bench:slow-attack -- --connections 1000 --attack 20 --after 120 [--engine fast] [--cli path/to/cli.js]
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '1000' },
    attack: { type: 'string', default: '20' },
    interval: { type: 'string', default: '2' },
    after: { type: 'string', default: '120' },
    engine: { type: 'string', default: 'node' },
    cli: { type: 'string', default: fileURLToPath(new URL('../src/cli.js', import.meta.url)) },
  },
});
const CONNECTIONS = Number(values.connections);
const ATTACK_MS = Number(values.attack) * 1000;
const INTERVAL_MS = Number(values.interval) * 1000;
const MiB = 1024 * 1024;
const probe = fileURLToPath(new URL('memory-probe.js', import.meta.url));

/** The backend: `/big` is 1 MiB, anything else 6 bytes; request bodies are read. */
const big = Buffer.alloc(MiB, 120);
const backend = createServer((req, res) => {
  req.resume();
  req.on('end', () => res.end(req.url === '/big' ? big : 'hello\n'));
});
backend.keepAliveTimeout = 120_000;
backend.listen(0, '127.0.0.1');
await once(backend, 'listening');
const backendPort = (backend.address() as AddressInfo).port;

// Limits long enough that the attacks last as long as this bench says, not as the defaults cut them.
const lb = spawn(process.execPath, ['--expose-gc', '--import', probe, values.cli!], {
  env: {
    PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', BACKENDS: `http://127.0.0.1:${backendPort}`, HEALTH_CHECK_PATH: '/health',
    ENGINE: values.engine!, HEADER_TIMEOUT: '10m', CLIENT_BODY_TIMEOUT: '10m', CLIENT_SEND_TIMEOUT: '10m',
    // glibc's allocator settings (MALLOC_ARENA_MAX, MALLOC_TRIM_THRESHOLD_, ...), to compare what it keeps.
    ...Object.fromEntries(Object.entries(process.env).filter(([name]) => name.startsWith('MALLOC_'))),
  },
  stdio: ['ignore', 'pipe', 'pipe'],
});
let out = '';
const collect = (c: string): void => { out += c; };
lb.stdout!.setEncoding('utf8').on('data', collect);
let err = '';
const readings: ((line: string) => void)[] = [];
lb.stderr!.setEncoding('utf8').on('data', (c: string) => {
  err += c;
  let nl: number;
  while ((nl = err.indexOf('\n')) >= 0) {
    const line = err.slice(0, nl);
    err = err.slice(nl + 1);
    if (line.startsWith('MEMORY ')) readings.shift()?.(line.slice(7));
    else process.stderr.write(`${line}\n`);
  }
});
const port = await new Promise<number>((resolve, reject) => {
  const check = (): void => {
    const line = out.split('\n').find((l) => l.includes('"msg":"listening"'));
    if (line === undefined) return;
    // The access lines that follow are not kept.
    lb.stdout!.off('data', collect).off('data', check).resume();
    resolve((JSON.parse(line) as { port: number }).port);
  };
  lb.stdout!.on('data', check);
  lb.once('exit', (code) => reject(new Error(`the balancer exited (${code}) before listening`)));
});

interface Memory { rss: number; heapUsed: number; heapTotal: number; external: number; arrayBuffers: number }

/** The balancer's memory after a full GC (the probe answers SIGUSR2). */
function measure(): Promise<Memory> {
  const reading = new Promise<string>((resolve) => readings.push(resolve));
  lb.kill('SIGUSR2');
  return reading.then((line) => JSON.parse(line) as Memory);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function open(first: string): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  socket.write(first);
  return socket;
}

/** Each attack opens CONNECTIONS sockets, keeps them going for ATTACK_MS, then closes them all. */
const ATTACKS: Record<string, { first: string; every?: string; read: boolean }> = {
  'slow headers': { first: 'GET / HTTP/1.1\r\nHost: x\r\n', every: 'X-a: b\r\n', read: true },
  'slow bodies': { first: `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${MiB}\r\n\r\n`, every: 'x'.repeat(64), read: true },
  'slow reads': { first: 'GET /big HTTP/1.1\r\nHost: x\r\n\r\nGET /big HTTP/1.1\r\nHost: x\r\n\r\nGET /big HTTP/1.1\r\nHost: x\r\n\r\n', read: false },
};

const rows: [string, Memory][] = [];
try {
  await sleep(2000);
  rows.push(['idle', await measure()]);
  for (const [name, attack] of Object.entries(ATTACKS)) {
    const sockets: Socket[] = [];
    for (let i = 0; i < CONNECTIONS; i++) {
      const socket = await open(attack.first);
      if (attack.read) socket.resume();
      else socket.pause();
      sockets.push(socket);
    }
    const end = Date.now() + ATTACK_MS;
    while (Date.now() < end && attack.every !== undefined) {
      for (const s of sockets) if (!s.destroyed) s.write(attack.every);
      await sleep(INTERVAL_MS);
    }
    if (attack.every === undefined) await sleep(ATTACK_MS);
    rows.push([`during ${name}`, await measure()]);
    for (const s of sockets) s.destroy();
    await sleep(1000);
    rows.push([`after ${name}`, await measure()]);
  }
  await sleep(Number(values.after) * 1000);
  rows.push([`${values.after} s after the attacks`, await measure()]);
} finally {
  lb.kill('SIGTERM');
  await once(lb, 'exit');
  backend.close();
  backend.closeAllConnections();
}

process.stdout.write(`${JSON.stringify({ node: process.version, engine: values.engine, connections: CONNECTIONS, attackSeconds: ATTACK_MS / 1000 })}\n\n`);
process.stdout.write(`${'phase (after a full GC)'.padEnd(32)}${'RSS'.padStart(8)}${'heap used'.padStart(11)}${'heap total'.padStart(12)}${'external'.padStart(10)}${'buffers'.padStart(9)}${'rest'.padStart(8)}   MiB\n`);
for (const [name, m] of rows) {
  const cells = [m.rss, m.heapUsed, m.heapTotal, m.external, m.arrayBuffers, m.rss - m.heapTotal - m.external];
  const widths = [8, 11, 12, 10, 9, 8];
  process.stdout.write(`${name.padEnd(32)}${cells.map((v, i) => (v / MiB).toFixed(0).padStart(widths[i]!)).join('')}\n`);
}
