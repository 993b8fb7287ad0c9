import { isHeader } from '../proxy/headers.js';

/**
 * Request checks that node:http's parser (llhttp) leaves to us. It already rejects, with 400:
 * Content-Length together with Transfer-Encoding, duplicate or non-numeric Content-Length,
 * obsolete line folding, bare LF line endings, whitespace before the colon, invalid chunk
 * sizes, a Transfer-Encoding whose last coding is not chunked, and a missing Host in HTTP/1.1.
 * It accepts two things we refuse (RFC 9112 sections 3.2 and 6.1; HAProxy and nginx refuse them
 * too): more than one Host, and a Transfer-Encoding other than exactly `chunked`.
 */
export function framingProblem(raw: readonly string[]): string | undefined {
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4) {
      if (isHeader(name, 'host') && ++hosts > 1) return 'more than one Host header';
    } else if (isHeader(name, 'transfer-encoding')) {
      if (raw[i + 1]!.trim().toLowerCase() !== 'chunked') return `Transfer-Encoding other than chunked: ${JSON.stringify(raw[i + 1])}`;
    }
  }
  return undefined;
}

/**
 * Whether a request's body has not all been read: an answer sent now must close the connection
 * (else the rest would be read as the next request). A request without a body counts as read,
 * though both engines mark it complete only after its handler has run.
 */
export function unreadBody(req: { readonly complete: boolean; readonly rawHeaders: readonly string[] }): boolean {
  return !req.complete && declaresBody(req.rawHeaders);
}

/**
 * Whether a request's head declares a body (a Content-Length other than 0, or a
 * Transfer-Encoding). A request that does not is complete once its head is parsed, though both
 * engines mark it so only after its handler has run.
 */
export function declaresBody(raw: readonly string[]): boolean {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 14 && name.toLowerCase() === 'content-length') {
      if (raw[i + 1]!.trim() !== '0') return true;
    } else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') {
      return true;
    }
  }
  return false;
}
