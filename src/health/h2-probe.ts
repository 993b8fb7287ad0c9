import { connect, type ClientHttp2Session, type ClientHttp2Stream, type OutgoingHttpHeaders } from 'node:http2';
import { classify } from '../errors/index.js';
import { tlsConnectOptions, type BackendTls } from '../pool/index.js';
import type { CheckResult } from './check.js';

/** Ends a probe with its verdict; later calls do nothing. */
export type Verdict = (result: CheckResult) => void;

/**
 * One check over HTTP/2, on a session of its own (as `httpCheck` takes a connection of its own):
 * connects to `url`'s origin (TLS with ALPN h2 and the backends' TLS settings for `https:`),
 * sends `headers` on one stream and hands the stream to `read`, which calls `verdict` once it
 * knows. A timeout, a session or stream error ends it first; the session goes with the verdict.
 */
export function probeH2(url: string, tls: BackendTls | undefined, timeoutMs: number, headers: OutgoingHttpHeaders,
  read: (stream: ClientHttp2Stream, verdict: Verdict) => void): Promise<CheckResult> {
  return new Promise<CheckResult>((resolve) => {
    const target = new URL(url);
    let session: ClientHttp2Session | undefined;
    let done = false;
    const verdict: Verdict = (result) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      session?.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => verdict({ ok: false, reason: `timeout after ${timeoutMs}ms` }), timeoutMs);
    session = connect(target.origin, target.protocol === 'https:' ? { ...tlsConnectOptions(tls), ALPNProtocols: ['h2'] } : {});
    session.on('error', (err) => verdict({ ok: false, reason: classify(err).reason }));
    const stream = session.request(headers);
    stream.on('error', (err) => verdict({ ok: false, reason: classify(err).reason }));
    read(stream, verdict);
  });
}
