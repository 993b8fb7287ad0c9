import { once } from 'node:events';
import { createServer, type Http2Server, type Http2Session, type IncomingHttpHeaders, type ServerHttp2Stream, type Settings } from 'node:http2';
import type { AddressInfo } from 'node:net';

/** A cleartext HTTP/2 backend (h2c, prior knowledge) on 127.0.0.1 and an ephemeral port, scripted per stream. */
export interface H2Backend {
  readonly name: string;
  readonly port: number;
  /** `http://127.0.0.1:PORT|proto=h2c`: a BACKENDS entry. */
  readonly entry: string;
  readonly server: Http2Server;
  /** Sessions (connections) it has accepted, and streams (requests) it has seen. */
  readonly sessions: Http2Session[];
  readonly streams: { headers: IncomingHttpHeaders; session: Http2Session }[];
  close(): Promise<void>;
}

export type H2Handler = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, backend: H2Backend) => void;

/** Answers 200 with its name and the request body read whole after it. */
export const echoName: H2Handler = (stream, _headers, backend) => {
  let body = '';
  stream.setEncoding('latin1');
  stream.on('data', (c: string) => { body += c; });
  stream.on('end', () => {
    stream.respond({ ':status': 200, 'content-type': 'text/plain', 'x-backend': backend.name });
    stream.end(`${backend.name}${body}`);
  });
};

export async function startH2Backend(t: { after(fn: () => unknown): void }, name: string, handler: H2Handler = echoName, settings: Settings = {}): Promise<H2Backend> {
  const server = createServer({ settings });
  const sessions: Http2Session[] = [];
  const streams: H2Backend['streams'] = [];
  server.on('session', (session) => sessions.push(session));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const backend: H2Backend = {
    name, port, entry: `http://127.0.0.1:${port}|proto=h2c|id=${name}`, server, sessions, streams,
    async close() {
      for (const session of sessions) session.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  server.on('stream', (stream, headers) => {
    // A stream the balancer resets (or this backend closes with an error code) is part of the script.
    stream.on('error', () => undefined);
    streams.push({ headers, session: stream.session! });
    handler(stream, headers, backend);
  });
  t.after(() => backend.close());
  return backend;
}
