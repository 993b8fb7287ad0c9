/**
 * The floors of `npm run bench -- --h2`: the least a proxy built on node:http2 can cost per
 * request. A minimal HTTP/2 proxy, no balancer code: each client stream becomes one stream on
 * one of three h2c sessions (round robin), the response head (status and content-type) and body
 * relayed, nothing logged, checked or counted. `BENCH_FLOOR_API=compat` takes the client side
 * through node:http2's compatibility API (the request and response objects the balancer's
 * listeners use, as node:http's do) instead of the core `stream` event: the difference between
 * the two rows is what that layer costs. Env as the balancer's: PORT, HOST, BACKENDS
 * (`http://…|proto=h2c`, comma-separated), TLS_CERT_FILE and TLS_KEY_FILE for the TLS client side.
 */
import {
  connect, constants, createSecureServer, createServer,
  type ClientHttp2Session, type ClientHttp2Stream, type Http2ServerRequest, type Http2ServerResponse, type IncomingHttpHeaders, type ServerHttp2Stream,
} from 'node:http2';
import { readFileSync } from 'node:fs';

const { HTTP2_HEADER_STATUS, HTTP2_HEADER_METHOD, HTTP2_HEADER_PATH, HTTP2_HEADER_AUTHORITY, HTTP2_HEADER_SCHEME } = constants;
const sessions: ClientHttp2Session[] = (process.env.BACKENDS ?? '').split(',').map((entry) => {
  const session = connect(entry.split('|')[0]!);
  session.on('error', () => undefined);
  return session;
});
let next = 0;
const cert = process.env.TLS_CERT_FILE;
const server = cert === undefined ? createServer()
  : createSecureServer({ cert: readFileSync(cert), key: readFileSync(process.env.TLS_KEY_FILE!) });

/** The backend request for a client's method, path and authority: one stream, ended with its headers. */
function forward(method: string, path: string, authority: string | undefined): ClientHttp2Stream {
  return sessions[next++ % sessions.length]!.request({
    [HTTP2_HEADER_METHOD]: method, [HTTP2_HEADER_PATH]: path, [HTTP2_HEADER_AUTHORITY]: authority ?? 'localhost', [HTTP2_HEADER_SCHEME]: 'http',
  }, { endStream: true });
}

if (process.env.BENCH_FLOOR_API === 'compat') {
  server.on('request', (req: Http2ServerRequest, res: Http2ServerResponse) => {
    const upstream = forward(req.method, req.url, req.headers[':authority']);
    upstream.on('response', (head: IncomingHttpHeaders) => {
      res.writeHead(Number(head[HTTP2_HEADER_STATUS]), { 'content-type': head['content-type'] ?? 'application/octet-stream' });
    });
    upstream.on('data', (chunk: Buffer) => res.write(chunk));
    upstream.on('end', () => res.end());
    upstream.on('error', () => res.destroy());
  });
} else {
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    stream.on('error', () => undefined);
    const upstream = forward(headers[HTTP2_HEADER_METHOD] as string, headers[HTTP2_HEADER_PATH] as string, headers[HTTP2_HEADER_AUTHORITY] as string | undefined);
    upstream.on('response', (head: IncomingHttpHeaders) => {
      stream.respond({ [HTTP2_HEADER_STATUS]: head[HTTP2_HEADER_STATUS], 'content-type': head['content-type'] ?? 'application/octet-stream' });
    });
    upstream.on('data', (chunk: Buffer) => stream.write(chunk));
    upstream.on('end', () => stream.end());
    upstream.on('error', () => stream.destroy());
  });
}
server.listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
