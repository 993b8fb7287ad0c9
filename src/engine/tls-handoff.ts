import { createSecureServer } from 'node:http2';
import type { Server as TlsServer, TLSSocket } from 'node:tls';

type SecureListener = (this: TlsServer, socket: TLSSocket) => void;

/**
 * Makes the HTTP/1.1 connections of a TLS server made by node:http2's `createSecureServer`
 * (`allowHTTP1`) go to `take` instead of node:http: those whose ALPN chose `http/1.1` or nothing,
 * the very test node:http2 makes. Every other connection (ALPN `h2`, and `acme-tls/1`
 * validations, which node:http2 takes as it always has) goes on to node:http2 as before.
 *
 * node:http2 registers its connection listener for 'secureConnection' in the server's
 * constructor: it is the first. It is replaced in place; listeners added after it (the PROXY
 * protocol's copy of the client address onto the TLS socket) still run, and run first for a
 * connection taken here, so that it is taken with its address. Returns false, changing nothing,
 * when the server has no such listener (then node:http keeps serving HTTP/1.1).
 */
export function takeHttp1(server: TlsServer, take: (socket: TLSSocket) => void): boolean {
  const listeners = server.listeners('secureConnection') as SecureListener[];
  const http2 = listeners[0];
  if (http2 === undefined || http2.name !== 'connectionListener') return false;
  const after = listeners.slice(1);
  server.removeAllListeners('secureConnection');
  server.on('secureConnection', function onSecureConnection(this: TlsServer, socket: TLSSocket) {
    const alpn = socket.alpnProtocol;
    if (alpn !== false && alpn !== 'http/1.1') {
      http2.call(this, socket);
      for (const listener of after) listener.call(this, socket);
      return;
    }
    for (const listener of after) listener.call(this, socket);
    take(socket);
  });
  return true;
}

/**
 * Whether `takeHttp1` can take a TLS server's HTTP/1.1 connections on this Node.js (undefined),
 * or why not: node:http2's secure server must register its connection listener, by that name,
 * when it is made.
 */
export function checkTakeover(): string | undefined {
  // Never listens: nothing to close.
  const server = createSecureServer({ allowHTTP1: true });
  const first = server.listeners('secureConnection')[0] as { name?: string } | undefined;
  return first?.name === 'connectionListener' ? undefined : 'node:http2\'s secure server does not register its connection listener as expected';
}
