import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { RequestContext } from '../context/index.js';
import { downstreamResponseHeaders } from './headers.js';

/**
 * After a `101 Switching Protocols`: relays the backend's 101 head (its headers rewritten as for
 * any response, `Upgrade` and `Connection: Upgrade` kept), then pipes the two connections both
 * ways, untouched, so subprotocols, extensions and close codes pass through. Either side closing
 * or failing closes the other; no traffic either way for `idleTimeout` ms (0: never) closes
 * both. `closed` runs once, when both sockets have closed.
 */
export function openTunnel(ctx: RequestContext, client: Socket, upstream: Duplex, statusText: string, rawHeaders: readonly (Buffer | string)[],
  idleTimeout: number, closed: () => void): void {
  let open = 2;
  const release = (): void => { if (--open === 0) closed(); };
  const closeBoth = (): void => { client.destroy(); upstream.destroy(); };
  client.once('close', release);
  upstream.once('close', release);
  client.on('error', closeBoth);
  upstream.on('error', closeBoth);
  client.on('close', closeBoth);
  upstream.on('close', closeBoth);
  if (client.destroyed) { closeBoth(); return; }

  const lines = [`HTTP/1.1 101 ${statusText || 'Switching Protocols'}`];
  const headers = downstreamResponseHeaders(rawHeaders, ctx.id, true);
  for (let i = 0; i < headers.length; i += 2) lines.push(`${headers[i]}: ${headers[i + 1]}`);
  client.write(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  const head = ctx.head;
  if (head !== undefined && head.length > 0) {
    ctx.bytesIn += head.length;
    upstream.write(head);
  }
  upstream.on('data', (chunk: Buffer) => { ctx.bytes += chunk.length; });
  client.on('data', (chunk: Buffer) => { ctx.bytesIn += chunk.length; });
  upstream.pipe(client);
  client.pipe(upstream);
  if (idleTimeout > 0) {
    client.setTimeout(idleTimeout, () => {
      ctx.log.info({ backend: ctx.backend?.id, idleMs: idleTimeout }, 'tunnel idle timeout');
      closeBoth();
    });
  }
}
