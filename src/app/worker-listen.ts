import { createServer, type AddressInfo, type Server } from 'node:net';
import { ConfigError, type Config } from '../config/index.js';
import type { WorkerListen } from '../config/settings.js';
import { listenOn } from '../http1/index.js';

/** How the workers of a cluster take their connections, once WORKER_LISTEN is resolved. */
export type ListenMode = 'reuseport' | 'shared';

/**
 * Why this process cannot give each worker its own SO_REUSEPORT socket, or undefined when it
 * can. Node gained `reusePort` in 22.12 and 23.1 and ignores the option before (the workers
 * would then fail to bind alike); the kernel spreads connections over the sockets on Linux, the
 * one platform this is measured and tested on.
 */
export function reusePortUnsupported(version: string = process.versions.node, platform: string = process.platform): string | undefined {
  if (platform !== 'linux') return `SO_REUSEPORT spreading is used on Linux only (this is ${platform})`;
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const has = major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
  return has ? undefined : `Node.js ${version} has no reusePort (22.12+ or 23.1+)`;
}

/** WORKER_LISTEN resolved (`unsupported`: see reusePortUnsupported): `auto` falls back to `shared` (with why); `reuseport` where it cannot work is a ConfigError. */
export function listenMode(setting: WorkerListen, unsupported: string | undefined): { mode: ListenMode; fallback?: string } {
  if (setting === 'shared') return { mode: 'shared' };
  if (unsupported === undefined) return { mode: 'reuseport' };
  if (setting === 'auto') return { mode: 'shared', fallback: unsupported };
  throw new ConfigError(`WORKER_LISTEN=reuseport cannot work here: ${unsupported}; use WORKER_LISTEN=shared or auto`);
}

/** What a worker is told of how to listen (LISTEN_ENV): its own sockets, on these ports. */
export interface WorkerListenPlan {
  readonly reusePort: boolean;
  /** PORT, as bound (never 0 when `reusePort`: every worker must bind the same one). */
  readonly port: number;
  /** HTTP_PORT (with TLS), as bound. */
  readonly httpPort?: number | undefined;
}

export const LISTEN_ENV = 'LB_WORKER_LISTEN';

/** The plan a worker was started with (none: it listens through the primary, as node:cluster does by default). */
export function workerPlan(env: NodeJS.ProcessEnv = process.env): WorkerListenPlan | undefined {
  const text = env[LISTEN_ENV];
  return text === undefined || text === '' ? undefined : JSON.parse(text) as WorkerListenPlan;
}

/**
 * The ports a reuseport group binds, held by the primary while its workers start. A configured
 * port is checked free first (bound alone, without SO_REUSEPORT, then closed): otherwise the
 * workers would silently join the group of another process of this user still listening there
 * with SO_REUSEPORT (an old instance), and split its traffic with it. Port 0 is bound once here
 * with SO_REUSEPORT to learn the number every worker then binds, and held (so no other program
 * takes it) until `release()`, once every worker listens; nobody can have connected to it yet,
 * as the number is logged only after. A held socket accepts nothing: a connection the kernel
 * gives it would be reset when it closes.
 */
export class PortReservation {
  readonly port: number;
  readonly httpPort: number | undefined;
  readonly #held: Server[];

  private constructor(port: number, httpPort: number | undefined, held: Server[]) {
    this.port = port;
    this.httpPort = httpPort;
    this.#held = held;
  }

  /** Reserves PORT and, with TLS, HTTP_PORT; rejects as a worker's listen would (EADDRINUSE, EACCES). */
  static async take(config: Config): Promise<PortReservation> {
    const held: Server[] = [];
    try {
      const port = await reserve(config.host, config.port, held);
      const httpPort = config.tls.cert !== undefined && config.tls.httpPort !== undefined ? await reserve(config.host, config.tls.httpPort, held) : undefined;
      return new PortReservation(port, httpPort, held);
    } catch (err) {
      for (const server of held) server.close();
      throw err;
    }
  }

  /** The plan every worker gets: its own sockets on these ports. */
  get plan(): WorkerListenPlan {
    return { reusePort: true, port: this.port, httpPort: this.httpPort };
  }

  /** Closes what is held: the workers' sockets keep the ports. */
  release(): void {
    for (const server of this.#held.splice(0)) server.close();
  }
}

async function reserve(host: string, port: number, held: Server[]): Promise<number> {
  if (port !== 0) {
    const alone = createServer();
    await listenOn(alone, host, port).catch((err: NodeJS.ErrnoException) => { throw bindError(err, host, port); });
    await new Promise<void>((resolve) => alone.close(() => resolve()));
    return port;
  }
  const probe = createServer();
  held.push(probe);
  const address: AddressInfo = await listenOn(probe, host, 0, true);
  // Whatever the kernel queues on it is reset at release: it never accepts.
  probe.on('connection', (socket) => socket.destroy());
  return address.port;
}

/** A bind that failed, told as a worker's own bind failure is by node:cluster (`bind EADDRINUSE 127.0.0.1:8080`), whichever process found it. */
function bindError(err: NodeJS.ErrnoException, host: string, port: number): NodeJS.ErrnoException {
  return Object.assign(new Error(`bind ${err.code ?? err.message} ${host}:${port}`, { cause: err }), { code: err.code, errno: err.errno, syscall: 'bind' });
}
