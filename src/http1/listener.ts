import type { AddressInfo, ListenOptions, Server as NetServer } from 'node:net';
import type { SecureContextOptions } from 'node:tls';

/** A client-facing listener, whichever engine parses its requests. */
export interface Listener {
  readonly proto: 'http' | 'https';
  /** What parses its HTTP/1.1: node:http, or the fast engine. */
  readonly engine: 'node' | 'fast';
  readonly server: { readonly listening: boolean; close(): unknown };
  /** Requests whose response has not ended yet. */
  readonly inFlight: number;
  readonly address: AddressInfo;
  connections(): Promise<number>;
  setSecureContext(tls: SecureContextOptions): void;
  listen(): Promise<AddressInfo>;
  /** Stops accepting and closes idle keep-alive connections at once. */
  stopAccepting(): Promise<void>;
  /** Resolves when no request is in flight. */
  whenIdle(): Promise<void>;
  /** Closes every connection now (the shutdown timeout has passed). */
  closeAll(): void;
}

/**
 * Listens on `host:port`; resolves with the address, or rejects with the listening error (a port
 * taken). With `reusePort` the socket gets SO_REUSEPORT (Node 22.12+/23.1+) and, in a cluster
 * worker, is bound by the worker itself (`exclusive`), not shared through the primary.
 */
export function listenOn(server: NetServer, host: string, port: number, reusePort = false): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    // `reusePort` is not in @types/node 20's ListenOptions; Node 20 would ignore it (WORKER_LISTEN never asks it there).
    server.listen(reusePort ? { host, port, reusePort, exclusive: true } as ListenOptions : { host, port }, () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}

/** Stops accepting connections; resolves once the server has closed (its open connections with it). */
export function stopListening(server: { close(callback: () => void): unknown }): Promise<void> {
  return new Promise<void>((resolve) => { server.close(() => resolve()); });
}
