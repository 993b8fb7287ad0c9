import { randomUUID } from 'node:crypto';
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Director, PickRequest } from '../balancer/index.js';
import { clientAddress } from '../context/index.js';
import { isSaneRequestId } from '../middleware/index.js';
import { tlsConnectOptions, type Backend, type BackendTls } from '../pool/index.js';
import { downstreamResponseHeaders, toProxyError, upstreamRequestHeaders } from '../proxy/index.js';
import { writeRawError } from './raw-response.js';

export interface TunnelOptions {
  /** Milliseconds for the backend to answer the handshake: else 504. */
  readonly timeout: number;
  /** Close a tunnel with no traffic for this long; 0 never. */
  readonly idleTimeout: number;
  /** How https:// backends are verified. */
  readonly backendTls: BackendTls;
}

/**
 * WebSocket and other HTTP/1.1 Upgrades: the handshake goes to a backend the strategy picks,
 * with the forwarding headers of a normal request and `Upgrade`/`Connection` kept. A `101`
 * turns the two connections into a tunnel piped both ways; any other answer is relayed as a
 * normal response. Either side closing or failing closes the other. Open tunnels count as
 * in flight for graceful shutdown.
 */
export class Tunnels {
  readonly #director: Director;
  readonly #options: TunnelOptions;
  readonly #log: Logger;
  readonly #open = new Set<Duplex>();
  #onEmpty: (() => void) | undefined;

  constructor(director: Director, options: TunnelOptions, log: Logger) {
    this.#director = director;
    this.#options = options;
    this.#log = log;
  }

  /** Handshakes and tunnels not yet closed. */
  get size(): number {
    return this.#open.size;
  }

  /** Resolves when no tunnel is open. */
  whenEmpty(): Promise<void> {
    if (this.#open.size === 0) return Promise.resolve();
    return new Promise((resolve) => { this.#onEmpty = resolve; });
  }

  /** Closes every tunnel now; returns how many there were. */
  closeAll(): number {
    const n = this.#open.size;
    for (const socket of this.#open) socket.destroy();
    return n;
  }

  handle(req: IncomingMessage, client: Duplex, head: Buffer, proto: string): void {
    const started = performance.now();
    const sent = req.headers['x-request-id'];
    const id = typeof sent === 'string' && isSaneRequestId(sent) ? sent : randomUUID();
    const log = this.#log.child({ reqId: id });
    const socket = client as Socket;
    const clientIp = clientAddress(socket);
    const pick: PickRequest = { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, clientIp };
    const backend = this.#director.pick(pick);
    client.on('error', () => undefined);
    if (backend === undefined) {
      log.warn({ code: 'LB_ERR_NO_BACKEND' }, 'no healthy backend');
      writeRawError(client, 503, 'Retry-After: 5\r\n');
      return;
    }
    this.#track(client);
    backend.inFlight++;
    backend.requests++;
    let status = 0;
    let bytesIn = 0;
    let bytesOut = 0;
    // The tunnel ends when every socket in it has closed: the client's, and the backend's after a 101.
    let open = 1;
    const release = (): void => {
      if (--open > 0) return;
      backend.inFlight--;
      log.info({ method: pick.method, path: pick.path, status, bytes: bytesOut, bytesIn, ms: Math.round((performance.now() - started) * 1000) / 1000,
        backend: backend.url, client: clientIp, upgrade: String(req.headers.upgrade ?? '') }, 'request');
    };
    client.once('close', release);

    const info = { host: undefined as string | undefined, hasBody: false };
    const headers = upstreamRequestHeaders(req.rawHeaders, clientIp, proto, id, info, true);
    const upstream = this.#request(backend, req, headers);
    const timer = setTimeout(() => {
      log.warn({ backend: backend.url, code: 'LB_ERR_UPSTREAM_TIMEOUT' }, `no response from backend within ${this.#options.timeout}ms`);
      status = 504;
      upstream.destroy();
      if (client.writable) writeRawError(client, 504);
    }, this.#options.timeout);
    client.once('close', () => { clearTimeout(timer); upstream.destroy(); });

    upstream.on('upgrade', (res: IncomingMessage, upSocket: Socket, upHead: Buffer) => {
      clearTimeout(timer);
      status = 101;
      if (client.destroyed) { upSocket.destroy(); return; }
      open++;
      upSocket.once('close', release);
      const lines = [`HTTP/1.1 101 ${res.statusMessage || 'Switching Protocols'}`];
      const out = downstreamResponseHeaders(res.rawHeaders, id, true);
      for (let i = 0; i < out.length; i += 2) lines.push(`${out[i]}: ${out[i + 1]}`);
      client.write(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
      if (upHead.length > 0) { bytesOut += upHead.length; client.write(upHead); }
      if (head.length > 0) { bytesIn += head.length; upSocket.write(head); }
      const closeBoth = (): void => { client.destroy(); upSocket.destroy(); };
      upSocket.on('error', closeBoth);
      upSocket.on('close', closeBoth);
      client.on('close', closeBoth);
      client.on('error', closeBoth);
      upSocket.on('data', (chunk: Buffer) => { bytesOut += chunk.length; });
      client.on('data', (chunk: Buffer) => { bytesIn += chunk.length; });
      upSocket.pipe(client);
      client.pipe(upSocket);
      if (this.#options.idleTimeout > 0) {
        socket.setTimeout(this.#options.idleTimeout, () => {
          log.info({ backend: backend.url, idleMs: this.#options.idleTimeout }, 'tunnel idle timeout');
          closeBoth();
        });
      }
    });

    upstream.on('response', (res: IncomingMessage) => {
      // The backend refused the upgrade: relay its answer as a normal response, then close.
      clearTimeout(timer);
      status = res.statusCode ?? 502;
      if (client.destroyed) { res.destroy(); return; }
      const lines = [`HTTP/1.1 ${status} ${res.statusMessage ?? ''}`];
      const out = downstreamResponseHeaders(res.rawHeaders, id);
      for (let i = 0; i < out.length; i += 2) {
        if (out[i]!.toLowerCase() !== 'content-length' || res.headers['transfer-encoding'] === undefined) lines.push(`${out[i]}: ${out[i + 1]}`);
      }
      lines.push('Connection: close');
      client.write(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
      res.on('data', (chunk: Buffer) => { bytesOut += chunk.length; });
      res.pipe(client);
      res.on('error', () => client.destroy());
    });

    upstream.on('error', (err: Error) => {
      clearTimeout(timer);
      if (status !== 0 || client.destroyed) { client.destroy(); return; }
      const error = toProxyError(err);
      status = error.status;
      log.warn({ backend: backend.url, code: error.code, status: error.status, err: err.message }, error.message);
      writeRawError(client, error.status === 499 ? 502 : error.status);
    });
    upstream.end();
  }

  #request(backend: Backend, req: IncomingMessage, headers: string[]): ClientRequest {
    const url = new URL(backend.origin);
    const path = req.url ?? '/';
    const options = {
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port === '' ? undefined : Number(url.port),
      method: req.method,
      path: backend.pathPrefix !== '' && path.startsWith('/') ? backend.pathPrefix + path : path,
      headers,
      agent: false as const,
      setHost: false,
    };
    if (url.protocol === 'https:') {
      const tls = tlsConnectOptions(this.#options.backendTls);
      return httpsRequest({ ...options, ...tls, servername: tls.servername ?? (isIp(options.host) ? undefined : options.host) });
    }
    return httpRequest(options);
  }

  #track(socket: Duplex): void {
    this.#open.add(socket);
    socket.once('close', () => {
      this.#open.delete(socket);
      if (this.#open.size === 0) this.#onEmpty?.();
    });
  }
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':');
}
