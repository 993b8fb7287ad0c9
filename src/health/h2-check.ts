import type { BackendTls } from '../pool/index.js';
import { semantic, type CheckFn } from './check.js';
import { probeH2 } from './h2-probe.js';

/** The most of an `application/health+json` body read. */
const HEALTH_JSON_LIMIT = 64 * 1024;

/**
 * The health check of a backend spoken to over HTTP/2 (`proto` h2c or h2): a GET of `url` on a
 * session of its own (as `httpCheck` takes a connection of its own), 2xx and 3xx pass, with
 * `application/health+json` read the same way.
 */
export function h2Check(tls: BackendTls | undefined): CheckFn {
  return (url, timeoutMs) => {
    const target = new URL(url);
    return probeH2(url, tls, timeoutMs, { ':method': 'GET', ':path': target.pathname + target.search, 'user-agent': 'load-balancer-health-check', accept: '*/*' }, (stream, finish) => {
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
  };
}
