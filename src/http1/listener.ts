import type { AddressInfo, Server as NetServer } from 'node:net';
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

/** Listens on `host:port`; resolves with the address, or rejects with the listening error (a port taken). */
export function listenOn(server: NetServer, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}

/** Stops accepting connections; resolves once the server has closed (its open connections with it). */
export function stopListening(server: { close(callback: () => void): unknown }): Promise<void> {
  return new Promise<void>((resolve) => { server.close(() => resolve()); });
}
