import { connect, type ClientHttp2Session } from 'node:http2';
import { classify } from '../errors/index.js';
import { tlsConnectOptions, type BackendTls } from '../pool/index.js';
import { semantic, type CheckFn, type CheckResult } from './check.js';

/** The most of an `application/health+json` body read. */
const HEALTH_JSON_LIMIT = 64 * 1024;

/**
 * The health check of a backend spoken to over HTTP/2 (`proto` h2c or h2): a GET of `url` on a
 * session of its own (as `httpCheck` takes a connection of its own), 2xx and 3xx pass, with
 * `application/health+json` read the same way.
 */
export function h2Check(tls: BackendTls | undefined): CheckFn {
  return (url, timeoutMs) => new Promise<CheckResult>((resolve) => {
    const target = new URL(url);
    let session: ClientHttp2Session | undefined;
    let done = false;
    const finish = (result: CheckResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      session?.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ ok: false, reason: `timeout after ${timeoutMs}ms` }), timeoutMs);
    session = connect(target.origin, target.protocol === 'https:' ? { ...tlsConnectOptions(tls), ALPNProtocols: ['h2'] } : {});
    session.on('error', (err) => finish({ ok: false, reason: classify(err).reason }));
    const stream = session.request({ ':method': 'GET', ':path': target.pathname + target.search, 'user-agent': 'load-balancer-health-check', accept: '*/*' });
    stream.on('error', (err) => finish({ ok: false, reason: classify(err).reason }));
    stream.on('response', (headers) => {
      const status = Number(headers[':status']);
      const passed = status >= 200 && status < 400;
      if (!/^application\/health\+json\b/i.test(String(headers['content-type'] ?? ''))) {
        finish(passed ? { ok: true } : { ok: false, reason: `status ${status}` });
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
        if (size >= HEALTH_JSON_LIMIT) finish(semantic(passed, status, Buffer.concat(chunks).subarray(0, HEALTH_JSON_LIMIT).toString('utf8')));
      });
      stream.on('end', () => finish(semantic(passed, status, Buffer.concat(chunks).toString('utf8'))));
    });
    stream.end();
  });
}
