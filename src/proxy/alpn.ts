import { isIP } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import { tlsConnectOptions, type BackendTls } from '../pool/index.js';
import { classify, isGatewayFailure, ProxyError } from '../errors/index.js';

/** What ALPN chose on a connection to an `auto` backend: HTTP/2, or HTTP/1.1 (what a server without ALPN speaks too). */
export type Negotiated = 'h2' | 'http1';

/** Told once: the protocol and, for h2, the connection it was chosen on (to be kept for use); or why none was made. */
export type NegotiateDone = (result: Negotiated | ProxyError, socket: TLSSocket | undefined) => void;

/**
 * Opens a TLS connection to `origin` (https://) offering `h2` and `http/1.1` by ALPN (RFC 7301),
 * as HAProxy's `alpn h2,http/1.1` does, and reports the backend's choice. A connection on which
 * h2 was chosen is handed over open; an HTTP/1.1 one is closed (the HTTP/1.1 transport opens
 * its own). A failure, or no handshake within `timeout` ms, is reported as a connect error
 * that nothing was sent on.
 */
export function negotiate(origin: string, tls: BackendTls | undefined, timeout: number, done: NegotiateDone): void {
  const url = new URL(origin);
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const options = tlsConnectOptions(tls);
  // SNI names a host, never an address (RFC 6066 section 3).
  const servername = options.servername ?? (isIP(host) === 0 ? host : undefined);
  const socket = connect({ ...options, host, port: Number(url.port === '' ? 443 : url.port), ALPNProtocols: ['h2', 'http/1.1'], ...(servername === undefined ? {} : { servername }) });
  let settled = false;
  const finish = (result: Negotiated | ProxyError): void => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    socket.off('error', onError);
    if (result === 'h2') {
      done(result, socket);
      return;
    }
    socket.destroy();
    done(result, undefined);
  };
  const onError = (err: Error): void => {
    const failure = classify(err);
    finish(new ProxyError(isGatewayFailure(failure.code) ? failure.code : 'LB_ERR_UPSTREAM_CONNECT', failure.reason, { cause: err }));
  };
  const timer = setTimeout(() => finish(new ProxyError('LB_ERR_UPSTREAM_TIMEOUT', `connect timeout (${timeout}ms)`)), timeout);
  timer.unref();
  socket.on('error', onError);
  socket.once('secureConnect', () => finish(socket.alpnProtocol === 'h2' ? 'h2' : 'http1'));
}
