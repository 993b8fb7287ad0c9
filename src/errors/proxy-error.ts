/** Stable codes for everything that can go wrong while proxying one request. */
export type ProxyErrorCode =
  | 'LB_ERR_NO_BACKEND'
  | 'LB_ERR_NO_ROUTE'
  | 'LB_ERR_NO_WEIGHT'
  | 'LB_ERR_ACCESS_DENIED'
  | 'LB_ERR_QUEUE_FULL'
  | 'LB_ERR_QUEUE_TIMEOUT'
  | 'LB_ERR_UPSTREAM_CONNECT'
  | 'LB_ERR_UPSTREAM_RESET'
  | 'LB_ERR_UPSTREAM_TIMEOUT'
  | 'LB_ERR_REQUEST_TIMEOUT'
  | 'LB_ERR_GRPC_DEADLINE'
  | 'LB_ERR_UPSTREAM_PROTOCOL'
  | 'LB_ERR_UPSTREAM_STATUS'
  | 'LB_ERR_CLIENT_CLOSED'
  | 'LB_ERR_CLIENT_BODY_TIMEOUT'
  | 'LB_ERR_CLIENT_SEND_TIMEOUT'
  | 'LB_ERR_BAD_REQUEST'
  | 'LB_ERR_BODY_TOO_LARGE'
  | 'LB_ERR_RATE_LIMITED'
  | 'LB_ERR_SHUTDOWN'
  | 'LB_ERR_INTERNAL'
  | 'LB_ERR_UNAUTHORIZED'
  | 'LB_ERR_AUTH_DENIED'
  | 'LB_ERR_AUTH_UNAVAILABLE'
  | 'LB_ERR_HOOK_FAILED'
  | 'LB_ERR_HOOK_TIMEOUT'
  | 'LB_ERR_CLIENT_CERT_REQUIRED';

const STATUS: Readonly<Record<ProxyErrorCode, number>> = {
  LB_ERR_NO_BACKEND: 503,
  // No route matched and there is no default pool.
  LB_ERR_NO_ROUTE: 404,
  // The route matched, but every one of its backendRefs weighs 0 (Gateway API: 500).
  LB_ERR_NO_WEIGHT: 500,
  // The client address is refused by ALLOW_CIDRS / DENY_CIDRS or a route's AccessList filter.
  LB_ERR_ACCESS_DENIED: 403,
  // Every backend full (BACKEND_MAX_REQUESTS) and the queue full, or the wait too long.
  LB_ERR_QUEUE_FULL: 503,
  LB_ERR_QUEUE_TIMEOUT: 503,
  LB_ERR_UPSTREAM_CONNECT: 502,
  LB_ERR_UPSTREAM_RESET: 502,
  LB_ERR_UPSTREAM_TIMEOUT: 504,
  // REQUEST_TIMEOUT passed over all tries (and any wait in the queue) before a response started.
  LB_ERR_REQUEST_TIMEOUT: 504,
  // A gRPC call's grpc-timeout passed before a response started (answered DEADLINE_EXCEEDED).
  LB_ERR_GRPC_DEADLINE: 504,
  LB_ERR_UPSTREAM_PROTOCOL: 502,
  // The backend answered one of RETRY_ON_STATUS: retried elsewhere, so the client never sees it.
  LB_ERR_UPSTREAM_STATUS: 502,
  // nginx's "client closed request": never sent, only logged.
  LB_ERR_CLIENT_CLOSED: 499,
  LB_ERR_CLIENT_BODY_TIMEOUT: 408,
  // The response has started by then: the client is cut, and the access line keeps its status.
  LB_ERR_CLIENT_SEND_TIMEOUT: 408,
  LB_ERR_BAD_REQUEST: 400,
  LB_ERR_BODY_TOO_LARGE: 413,
  // Over RATE_LIMIT or a route's RateLimit filter (enforced).
  LB_ERR_RATE_LIMITED: 429,
  // Still running at SHUTDOWN_TIMEOUT: answered 503 if nothing was sent yet, else cut.
  LB_ERR_SHUTDOWN: 503,
  LB_ERR_INTERNAL: 500,
  // An authentication filter refused the request: no or wrong credentials, a bad token.
  LB_ERR_UNAUTHORIZED: 401,
  // A ForwardAuth service said no: the client gets its answer (its status, 403 is the usual one).
  LB_ERR_AUTH_DENIED: 403,
  // A ForwardAuth service (or a JWKS URL) could not be asked: unreachable, too slow, or a broken answer.
  LB_ERR_AUTH_UNAVAILABLE: 503,
  // A hook (HOOKS_MODULE, a route's hooks) threw or rejected.
  LB_ERR_HOOK_FAILED: 500,
  // A hook's asynchronous phase took longer than HOOK_TIMEOUT: abandoned.
  LB_ERR_HOOK_TIMEOUT: 504,
  // A route's ClientCertificate filter: the client presented no verified certificate (TLS_CLIENT_AUTH optional).
  LB_ERR_CLIENT_CERT_REQUIRED: 403,
};

/** Where an upstream exchange had got to when it failed: what a retry may assume. */
export interface Stage {
  /** Nothing of the request reached the backend (no connection, or none written on it). */
  readonly beforeRequest: boolean;
  /** No byte of a response came back. */
  readonly beforeResponse: boolean;
}

const NOTHING_SENT: Stage = { beforeRequest: true, beforeResponse: true };

/**
 * What a failure allows a retry to do, whatever the retry settings: repeat any request (nothing
 * of it reached the backend), only an idempotent one without a body (it failed before any
 * response), or nothing.
 */
export type Retry = 'any' | 'idempotent' | 'no';

/**
 * A proxying failure: what failed (`code`), the HTTP status it maps to, the cause, and how far
 * the attempt had got (`beforeRequest`, `beforeResponse`). Whether it may be retried travels
 * with it (Pingora's error `retry` flag): `retry`, and `sameBackend` for where.
 */
export class ProxyError extends Error {
  override readonly name = 'ProxyError';
  readonly status: number;
  readonly beforeRequest: boolean;
  readonly beforeResponse: boolean;
  readonly retry: Retry;
  /**
   * A retry may go back to the same backend (when it is the only one): not after a timeout. A
   * backend that let a request time out is stuck, and a second wait there only doubles the
   * client's (nginx's `proxy_next_upstream` moves a timed-out request only to another server).
   */
  readonly sameBackend: boolean;

  constructor(readonly code: ProxyErrorCode, message: string, options?: { cause?: unknown; stage?: Stage }) {
    super(message, options);
    this.status = STATUS[code];
    const stage = options?.stage ?? NOTHING_SENT;
    this.beforeRequest = stage.beforeRequest;
    this.beforeResponse = stage.beforeResponse;
    this.retry = !isGatewayFailure(code) ? 'no' : this.beforeRequest ? 'any' : this.beforeResponse ? 'idempotent' : 'no';
    this.sameBackend = code !== 'LB_ERR_UPSTREAM_TIMEOUT';
  }
}

/** Failures of the backend (or of the way to it): retried when safe, and counted by outlier detection. */
export function isGatewayFailure(code: ProxyErrorCode): boolean {
  return code === 'LB_ERR_UPSTREAM_CONNECT' || code === 'LB_ERR_UPSTREAM_RESET' || code === 'LB_ERR_UPSTREAM_TIMEOUT'
    || code === 'LB_ERR_UPSTREAM_PROTOCOL' || code === 'LB_ERR_UPSTREAM_STATUS';
}

/** Recorded when the client leaves before its response is complete. */
export const CLIENT_CLOSED = new ProxyError('LB_ERR_CLIENT_CLOSED', 'client closed the request');

/** A failure talking to a backend, in few stable words: the proxy's code and the reason a health check reports. */
export interface Failure {
  readonly code: ProxyErrorCode;
  /** `connection refused`, `connection reset`, `host not found`, `TLS error: …`, … */
  readonly reason: string;
}

/**
 * The one place that names what went wrong with a connection or exchange, for the proxy and the
 * health checks alike: refused or unreachable → connect, reset → reset, timeouts → timeout, a bad
 * response → protocol, our own request refused → bad request, the client gone → client closed.
 */
export function classify(err: unknown): Failure {
  if (err instanceof ProxyError) return { code: err.code, reason: err.message };
  const e = err as { code?: string; cause?: { code?: string }; message?: string } | undefined;
  const code = e?.code === 'UND_ERR_CONNECT_TIMEOUT' ? e.code : (e?.cause?.code ?? e?.code);
  const message = e?.message ?? String(err);
  switch (code) {
    case 'ECONNREFUSED': return { code: 'LB_ERR_UPSTREAM_CONNECT', reason: 'connection refused' };
    case 'ENOTFOUND': case 'EAI_AGAIN': return { code: 'LB_ERR_UPSTREAM_CONNECT', reason: 'host not found' };
    case 'EHOSTUNREACH': case 'ENETUNREACH': case 'EADDRNOTAVAIL': return { code: 'LB_ERR_UPSTREAM_CONNECT', reason: 'host unreachable' };
    case 'UND_ERR_CONNECT_TIMEOUT': return { code: 'LB_ERR_UPSTREAM_TIMEOUT', reason: 'connect timeout' };
    case 'UND_ERR_HEADERS_TIMEOUT': case 'UND_ERR_BODY_TIMEOUT': return { code: 'LB_ERR_UPSTREAM_TIMEOUT', reason: message };
    case 'ECONNRESET': case 'EPIPE': case 'UND_ERR_SOCKET': case 'UND_ERR_CLOSED': case 'UND_ERR_DESTROYED':
      return { code: 'LB_ERR_UPSTREAM_RESET', reason: 'connection reset' };
    case 'UND_ERR_INVALID_ARG': case 'UND_ERR_NOT_SUPPORTED': case 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH':
      return { code: 'LB_ERR_BAD_REQUEST', reason: message };
    case 'UND_ERR_ABORTED': case 'ERR_STREAM_PREMATURE_CLOSE': case 'ECONNABORTED':
      return { code: 'LB_ERR_CLIENT_CLOSED', reason: 'client closed the request' };
    default:
      // undici's HTTPParserError carries no code when llhttp's own error has none to give.
      if ((typeof code === 'string' && (code.startsWith('HPE_') || code === 'UND_ERR_INFO' || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH'))
        || (err as Error | undefined)?.name === 'HTTPParserError') {
        return { code: 'LB_ERR_UPSTREAM_PROTOCOL', reason: `invalid HTTP response: ${message}` };
      }
      if ((typeof code === 'string' && (code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL') || code.includes('CERT'))) || /certificate|SSL|TLS/i.test(message)) {
        return { code: 'LB_ERR_UPSTREAM_CONNECT', reason: `TLS error: ${message}` };
      }
      return { code: 'LB_ERR_INTERNAL', reason: message };
  }
}

const MESSAGES: Partial<Record<ProxyErrorCode, string>> = {
  LB_ERR_UPSTREAM_RESET: 'connection reset by backend',
};

/** Maps any failure of an exchange to a ProxyError, with how far the exchange had got. */
export function toProxyError(err: unknown, stage?: Stage): ProxyError {
  if (err instanceof ProxyError) return err;
  const { code, reason } = classify(err);
  return new ProxyError(code, MESSAGES[code] ?? reason, { cause: err, stage });
}
