/**
 * The one-command demo: three backends on 8081-8083 and the balancer on 1234, checking /health.
 * Ports: DEMO_PORT (1234), DEMO_ADMIN_PORT (9901) and DEMO_BACKEND_PORTS (8081,8082,8083).
 * The admin API is on, on loopback, with a token made at start (or ADMIN_TOKEN).
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Server } from 'node:http';
import { createLoadBalancer } from '../src/index.js';
import { createDemoBackend, listen } from './backend.js';

const port = Number(process.env.DEMO_PORT ?? 1234);
const adminPort = Number(process.env.DEMO_ADMIN_PORT ?? 9901);
const token = process.env.ADMIN_TOKEN ?? randomBytes(16).toString('hex');
const backendPorts = (process.env.DEMO_BACKEND_PORTS ?? '8081,8082,8083').split(',').map(Number);

async function main(): Promise<void> {
  const backends: Server[] = [];
  const urls: string[] = [];
  for (const [i, p] of backendPorts.entries()) {
    const server = createDemoBackend(`Backend ${i + 1}`);
    const bound = await listen(server, p);
    backends.push(server);
    urls.push(`http://127.0.0.1:${bound}`);
  }
  const lb = createLoadBalancer({
    port,
    host: process.env.HOST ?? '127.0.0.1',
    backends: urls,
    health: { path: '/health', interval: '5s', timeout: '1s' },
    admin: { port: adminPort, host: '127.0.0.1', token },
    // Pretty even into a pipe (npm start | tee): the demo is read by people; LOG_FORMAT=json for machines.
    log: { level: (process.env.LOG_LEVEL ?? 'info'), format: process.env.LOG_FORMAT ?? 'pretty' },
  });
  const address = await lb.start();
  const at = `localhost:${address.port}`;
  const admin = `localhost:${lb.adminAddress?.port ?? adminPort}`;
  const firstPort = new URL(urls[0]!).port;
  process.stdout.write([
    '',
    `  Demo backends: ${urls.join(', ')}`,
    `  Load balancer: http://${at} (round robin, health checks on /health every 5s)`,
    '',
    '  Try:',
    `    for i in $(seq 12); do curl -s ${at}; done     # Backend 1, 2, 3, 1, 2, 3, ...`,
    `    curl -s ${at}/echo                             # what the backend received`,
    '',
    `  Dashboard: http://${admin}/ (token ${token})`,
    `  Make Backend 1 misbehave and watch:  curl -s localhost:${firstPort}/demo/fail   (or slow, down; ok to heal)`,
    `    while true; do curl -s ${at} > /dev/null; sleep 0.05; done          # some traffic for the charts`,
    '',
    `  Admin API: http://${admin} (token ${token})`,
    `    curl -s ${admin}/metrics                       # Prometheus metrics`,
    `    curl -s -H 'Authorization: Bearer ${token}' ${admin}/api/backends`,
    `    curl -s -X PATCH -H 'Authorization: Bearer ${token}' -d '{"state":"maintenance"}' ${admin}/api/backends/127.0.0.1:${firstPort}`,
    '',
    '  Ctrl-C stops everything.',
    '',
  ].join('\n'));

  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) process.exit(130);
    stopping = true;
    await lb.stop();
    await Promise.all(backends.map(async (server) => {
      server.close();
      server.closeAllConnections();
      await once(server, 'close');
    }));
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

main().catch((err: unknown) => {
  process.stderr.write(`demo: ${(err as Error).message}\n`);
  process.exit(1);
});
