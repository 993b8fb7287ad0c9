/**
 * `npm run bench:slow-readers`: what slow readers do to everyone else. A normal client sends
 * GETs at a fixed rate through the balancer (latency counted from each request's scheduled
 * time) for `--duration` seconds alone, then again with `--readers` clients attached that each
 * ask for a 32 MiB response and read none of it (slowhttptest's slow-read attack at its
 * harshest), once their buffers have filled (`--settle` seconds after the last one came). Prints the normal client's p50/p99 and errors both ways, the balancer's RSS, and
 * how many slow readers the balancer cut (CLIENT_SEND_TIMEOUT) by the end.
 *
 *   npm run bench:slow-readers -- --readers 200 --duration 10 --rate 500 --settle 5 [--send-timeout 60s] [--cli path/to/cli.js]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    readers: { type: 'string', default: '200' },
    duration: { type: 'string', default: '10' },
    rate: { type: 'string', default: '500' },
    connections: { type: 'string', default: '10' },
    'send-timeout': { type: 'string', default: '60s' },
    settle: { type: 'string', default: '5' },
    cli: { type: 'string', default: fileURLToPath(new URL('../src/cli.js', import.meta.url)) },
  },
});
const readers = Number(values.readers);
const duration = Number(values.duration);
const MiB = 1024 * 1024;

/** The backend: `/big` streams 32 MiB with backpressure, anything else is 6 bytes. */
const chunk = Buffer.alloc(64 * 1024, 120);
const backend = createServer((req, res) => {
  req.resume();
  if (req.url !== '/big') { res.end('hello\n'); return; }
  stream(res, 32 * MiB);
});
backend.keepAliveTimeout = 120_000;
backend.listen(0, '127.0.0.1');
await once(backend, 'listening');
const backendPort = (backend.address() as AddressInfo).port;

function stream(res: ServerResponse, size: number): void {
  let sent = 0;
  res.setHeader('content-length', size);
  const pump = (): void => {
    while (sent < size) {
      sent += chunk.length;
      if (!res.write(chunk)) { res.once('drain', pump); return; }
    }
    res.end();
  };
  pump();
}

const lb = spawn(process.execPath, [values.cli!], {
  env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', BACKENDS: `http://127.0.0.1:${backendPort}`, HEALTH_CHECK_PATH: '/health', CLIENT_SEND_TIMEOUT: values['send-timeout']!, LOG_LEVEL: 'info' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
let logs = '';
lb.stdout!.setEncoding('utf8').on('data', (c: string) => { logs += c; });
const port = await new Promise<number>((resolve, reject) => {
  const check = (): void => {
    const line = logs.split('\n').find((l) => l.includes('"msg":"listening"'));
    if (line !== undefined) resolve((JSON.parse(line) as { port: number }).port);
  };
  lb.stdout!.on('data', check);
  lb.once('exit', (code) => reject(new Error(`the balancer exited (${code}) before listening`)));
});

interface LoadResult { requests: number; errors: number; p50: number; p99: number }

/** The normal client: the project's fixed-rate load generator. */
async function normalClient(): Promise<LoadResult> {
  const gen = spawn(process.execPath, [fileURLToPath(new URL('loadgen.js', import.meta.url)), `http://127.0.0.1:${port}/`, String(duration), values.connections!, values.rate!]);
  let out = '';
  gen.stdout!.on('data', (c) => { out += c; });
  await once(gen, 'close');
  return JSON.parse(out) as LoadResult;
}

function rssMiB(proc: ChildProcess): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
}

async function slowReader(): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.pause();
  socket.on('error', () => undefined);
  socket.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
  return socket;
}

try {
  const alone = await normalClient();
  const rssAlone = rssMiB(lb);
  const held: Socket[] = [];
  for (let i = 0; i < readers; i++) held.push(await slowReader());
  // Until their kernel buffers are full, the readers' responses are still streaming: that burst is not the steady state.
  await new Promise((resolve) => setTimeout(resolve, Number(values.settle) * 1000));
  const attacked = await normalClient();
  const rssAttacked = rssMiB(lb);
  const cut = (logs.match(/LB_ERR_CLIENT_SEND_TIMEOUT","msg":"request"/g) ?? []).length;
  process.stdout.write(`${JSON.stringify({ node: process.version, readers, duration, rate: Number(values.rate), settle: Number(values.settle), sendTimeout: values['send-timeout'] })}\n\n`);
  process.stdout.write(`${'normal client'.padEnd(28)}${'requests'.padStart(10)}${'errors'.padStart(8)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'lb RSS'.padStart(10)}\n`);
  for (const [name, r, rss] of [['alone', alone, rssAlone], [`with ${readers} slow readers`, attacked, rssAttacked]] as const) {
    process.stdout.write(`${name.padEnd(28)}${String(r.requests).padStart(10)}${String(r.errors).padStart(8)}${r.p50.toFixed(2).padStart(9)}${r.p99.toFixed(2).padStart(9)}${`${rss.toFixed(0)} MiB`.padStart(10)}\n`);
  }
  process.stdout.write(`\nslow readers cut by CLIENT_SEND_TIMEOUT so far: ${cut}\n`);
  for (const s of held) s.destroy();
} finally {
  lb.kill('SIGTERM');
  await once(lb, 'exit');
  backend.close();
  backend.closeAllConnections();
}
