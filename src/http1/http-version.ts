/**
 * Why a request's HTTP version is refused on an HTTP/1 connection, or undefined for 1.0 and 1.1.
 *
 * The answer is 505 HTTP Version Not Supported (RFC 9110 §15.6.6: the server does not support
 * the major version the request used), with `Connection: close`, before anything is forwarded:
 * - `HTTP/2.0` in a request line is not HTTP/2: HTTP/2 begins with the connection preface
 *   (RFC 9113 §3.4) or ALPN `h2`, never with a request line, so such a request is an HTTP/1
 *   message claiming a version whose framing it does not use; handing it on as version 2 would
 *   make the layers above take it for an HTTP/2 stream;
 * - `HTTP/0.9` had no version in its request line, so one that names it is not 0.9 either;
 * - versions llhttp refuses outright (`HTTP/1.2`, `HTTP/3.0`; see `parseErrorStatus`) get the
 *   same answer, so a client sees one status for every version it cannot use here. RFC 9110
 *   §2.5 would have an unknown higher minor version handled as 1.1, but llhttp stops at it.
 */
export function versionProblem(major: number, minor: number): string | undefined {
  if (major === 1 && minor <= 1) return undefined;
  return `HTTP/${major}.${minor} is not HTTP/1.0 or HTTP/1.1`;
}

/** The status for a request refused by `versionProblem`. */
export const VERSION_NOT_SUPPORTED = 505;
