import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * Writes a complete short error response straight to a socket and closes it: for requests that
 * never got a ServerResponse (parse errors, refused upgrades).
 */
export function writeRawError(socket: Duplex, status: number, extra = ''): void {
  const text = STATUS_CODES[status] ?? 'Error';
  const body = `${status} ${text}\n`;
  socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\nConnection: close\r\n${extra}\r\n${body}`);
}
