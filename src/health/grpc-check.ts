import type { IncomingHttpHeaders } from 'node:http2';
import type { BackendTls } from '../pool/index.js';
import type { CheckFn, CheckResult } from './check.js';
import { probeH2 } from './h2-probe.js';
import { decodeHealthCheckResponse, encodeHealthCheckRequest, grpcStatusReason, grpcTimeout, HEALTH_CHECK_METHOD, servingVerdict } from './grpc-message.js';

/** The most of a response read: a HealthCheckResponse is a few bytes. */
const RESPONSE_LIMIT = 64 * 1024;

/**
 * The gRPC health check (`grpc.health.v1.Health/Check`) of a backend spoken to over HTTP/2 (h2c,
 * or h2 with the backends' TLS settings), on a session of its own as every check has: SERVING
 * passes; another serving status, a grpc-status other than 0 (UNIMPLEMENTED from a server
 * without the Health service), or an answer that is not gRPC fails, saying which. `url`'s path
 * is not used: the method's path is fixed.
 */
export function grpcCheck(tls: BackendTls | undefined, service: string): CheckFn {
  const request = encodeHealthCheckRequest(service);
  return (url, timeoutMs) => probeH2(url, tls, timeoutMs, {
    ':method': 'POST', ':path': HEALTH_CHECK_METHOD, 'content-type': 'application/grpc', te: 'trailers',
    'grpc-timeout': grpcTimeout(timeoutMs), 'user-agent': 'load-balancer-health-check',
  }, (stream, finish) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let trailers: IncomingHttpHeaders | undefined;
    stream.on('response', (headers) => {
      const status = Number(headers[':status']);
      const type = String(headers['content-type'] ?? '');
      if (status !== 200) finish({ ok: false, reason: `status ${status}` });
      // A Trailers-Only response (an error, most often) carries grpc-status in its one HEADERS frame.
      else if (headers['grpc-status'] !== undefined) finish(judge(headers, Buffer.alloc(0)));
      else if (!/^application\/grpc(\+proto)?(;|$)/i.test(type)) finish({ ok: false, reason: `not a gRPC response (content-type ${type === '' ? 'none' : JSON.stringify(type)})` });
    });
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > RESPONSE_LIMIT) finish({ ok: false, reason: `grpc response over ${RESPONSE_LIMIT} bytes` });
      else chunks.push(chunk);
    });
    stream.on('trailers', (received) => { trailers = received; });
    stream.on('end', () => finish(trailers === undefined ? { ok: false, reason: 'grpc response without trailers (no grpc-status)' } : judge(trailers, Buffer.concat(chunks))));
    // Reset without an error event (NO_ERROR) or closed before its end: no verdict came.
    stream.on('close', () => finish({ ok: false, reason: `stream closed without a grpc-status (code ${stream.rstCode ?? 0})` }));
    stream.end(request);
  });
}

/** The verdict of a finished call: its grpc-status, then the serving status in its message. */
function judge(trailers: IncomingHttpHeaders, body: Buffer): CheckResult {
  const raw = trailers['grpc-status'];
  const code = typeof raw === 'string' && /^\d{1,3}$/.test(raw) ? Number(raw) : undefined;
  if (code === undefined) return { ok: false, reason: `grpc response with an invalid grpc-status ${JSON.stringify(raw ?? null)}` };
  if (code !== 0) {
    const message = trailers['grpc-message'];
    return { ok: false, reason: grpcStatusReason(code, typeof message === 'string' ? message : undefined) };
  }
  const decoded = decodeHealthCheckResponse(body);
  return 'invalid' in decoded ? { ok: false, reason: decoded.invalid } : servingVerdict(decoded.status);
}
