/**
 * `npm run bench:memory`: the balancer's resident memory idle, and with 10,000 idle keep-alive
 * client connections (each has made one request). Streaming memory is measured by
 * test/streaming.test.ts. Needs a file-descriptor limit above 10,000 (ulimit -n).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { connections: { type: 'string', default: '10000' } } });
const CONNECTIONS = Number(values.connections);
const here = fileURLToPath(new URL('.', import.meta.url));
const cli = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const PORT = 19150;

function rss(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
}

const backends = spawn(process.execPath, [`${here}backend.js`], { env: { BENCH_BACKEND_PORTS: '19151,19152,19153' }, stdio: 'ignore' });
const lb = spawn(process.execPath, [cli], {
  env: { PATH: process.env.PATH ?? '', PORT: String(PORT), HOST: '127.0.0.1', BACKENDS: 'http://127.0.0.1:19151,http://127.0.0.1:19152,http://127.0.0.1:19153', CLIENT_IDLE_TIMEOUT: '10m' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
let log = '';
lb.stdout!.on('data', (c) => { log += c; });
while (!log.includes('"msg":"listening"')) await once(lb.stdout!, 'data');
await new Promise((r) => setTimeout(r, 2000)); // let start-up garbage settle
const idle = rss(lb.pid!);

const sockets: Socket[] = [];
for (let i = 0; i < CONNECTIONS; i++) {
  const socket = connect(PORT, '127.0.0.1');
  socket.on('error', (err) => { throw err; });
  await once(socket, 'connect');
  socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await once(socket, 'data');
  sockets.push(socket);
}
await new Promise((r) => setTimeout(r, 2000));
const withConnections = rss(lb.pid!);
process.stdout.write(`${JSON.stringify({ node: process.version, idleRssMiB: +idle.toFixed(1), connections: sockets.length, rssWithIdleConnectionsMiB: +withConnections.toFixed(1) })}\n`);
for (const s of sockets) s.destroy();
lb.kill('SIGTERM');
backends.kill('SIGTERM');
await once(lb, 'exit');
