import { readFileSync } from 'node:fs';
import type { Server } from 'node:net';

/**
 * Ports below the kernel's ephemeral range (`net.ipv4.ip_local_port_range`), for a server a
 * test closes to get an address that refuses, or whose port a test binds again later.
 *
 * A port from listen(0) is handed out again by the kernel to the next listen(0) that asks, and
 * the suite runs test files side by side: a backend closed to play "dead" could come back as
 * another file's backend, answer its health check and take requests. No listen(0), in this
 * process or another, is ever given a port below the range, so such a port stays refused until
 * a test binds it on purpose.
 */
function dedicatedRange(): [number, number] {
  let low = 32_768;
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch {
    // Not Linux: keep the usual default.
  }
  return [Math.max(1_024, low - 16_384), low];
}

const [LOW, HIGH] = dedicatedRange();

/** A port below the ephemeral range, at random. */
export function dedicatedPort(): number {
  return LOW + Math.floor(Math.random() * (HIGH - LOW));
}

/**
 * Listens on `port` (0: an ephemeral one), or with 'dedicated' on a port below the ephemeral
 * range (`pick`, at random by default), trying another when it is taken (by a test file running
 * beside this one); falls back to an ephemeral port if the machine leaves no room below its range.
 */
export async function listen(server: Server, host: string, port: number | 'dedicated', pick = dedicatedPort): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const dedicated = port === 'dedicated' && HIGH - LOW >= 1_024 && attempt < 50;
    const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      const onError = (e: NodeJS.ErrnoException): void => { server.off('listening', onListening); resolve(e); };
      const onListening = (): void => { server.off('error', onError); resolve(undefined); };
      server.once('error', onError).once('listening', onListening);
      server.listen(dedicated ? pick() : port === 'dedicated' ? 0 : port, host);
    });
    if (err === undefined) return;
    if (!dedicated || (err.code !== 'EADDRINUSE' && err.code !== 'EACCES')) throw err;
  }
}
