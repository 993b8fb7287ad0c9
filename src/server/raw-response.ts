import type { Duplex } from 'node:stream';

const TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request', 408: 'Request Timeout', 413: 'Content Too Large', 431: 'Request Header Fields Too Large',
  502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
};

/**
 * Writes a complete short error response straight to a socket and closes it: for requests that
 * never got a ServerResponse (parse errors, refused upgrades).
 */
export function writeRawError(socket: Duplex, status: number, extra = ''): void {
  const text = TEXT[status] ?? 'Error';
  const body = `${status} ${text}\n`;
  socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\nConnection: close\r\n${extra}\r\n${body}`);
}
