/** Stable codes for everything that can go wrong while proxying one request. */
export type ProxyErrorCode =
  | 'LB_ERR_NO_BACKEND'
  | 'LB_ERR_UPSTREAM_CONNECT'
  | 'LB_ERR_UPSTREAM_RESET'
  | 'LB_ERR_UPSTREAM_TIMEOUT'
  | 'LB_ERR_UPSTREAM_PROTOCOL'
  | 'LB_ERR_CLIENT_CLOSED'
  | 'LB_ERR_CLIENT_BODY_TIMEOUT'
  | 'LB_ERR_CLIENT_SEND_TIMEOUT'
  | 'LB_ERR_BAD_REQUEST'
  | 'LB_ERR_BODY_TOO_LARGE'
  | 'LB_ERR_INTERNAL';

const STATUS: Readonly<Record<ProxyErrorCode, number>> = {
  LB_ERR_NO_BACKEND: 503,
  LB_ERR_UPSTREAM_CONNECT: 502,
  LB_ERR_UPSTREAM_RESET: 502,
  LB_ERR_UPSTREAM_TIMEOUT: 504,
  LB_ERR_UPSTREAM_PROTOCOL: 502,
  // nginx's "client closed request": never sent, only logged.
  LB_ERR_CLIENT_CLOSED: 499,
  LB_ERR_CLIENT_BODY_TIMEOUT: 408,
  // The response has started by then: the client is cut, and the access line keeps its status.
  LB_ERR_CLIENT_SEND_TIMEOUT: 408,
  LB_ERR_BAD_REQUEST: 400,
  LB_ERR_BODY_TOO_LARGE: 413,
  LB_ERR_INTERNAL: 500,
};

/** A proxying failure: what failed (`code`), the HTTP status it maps to, and the cause. */
export class ProxyError extends Error {
  override readonly name = 'ProxyError';
  readonly status: number;

  constructor(readonly code: ProxyErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.status = STATUS[code];
  }
}

/**
 * The one place that maps an upstream or client failure to a ProxyError, and so to a status:
 * refused or unreachable → 502, reset or bad response → 502, timeout → 504, client gone → 499.
 */
export function toProxyError(err: unknown): ProxyError {
  if (err instanceof ProxyError) return err;
  const e = err as { code?: string; cause?: { code?: string }; message?: string } | undefined;
  const code = e?.code ?? e?.cause?.code;
  const message = e?.message ?? String(err);
  switch (code) {
    case 'ECONNREFUSED':
      return new ProxyError('LB_ERR_UPSTREAM_CONNECT', 'connection refused', { cause: err });
    case 'ENOTFOUND': case 'EAI_AGAIN': case 'EHOSTUNREACH': case 'ENETUNREACH': case 'EADDRNOTAVAIL':
      return new ProxyError('LB_ERR_UPSTREAM_CONNECT', `cannot connect: ${code}`, { cause: err });
    case 'UND_ERR_CONNECT_TIMEOUT': case 'UND_ERR_HEADERS_TIMEOUT': case 'UND_ERR_BODY_TIMEOUT':
      return new ProxyError('LB_ERR_UPSTREAM_TIMEOUT', message, { cause: err });
    case 'ECONNRESET': case 'EPIPE': case 'UND_ERR_SOCKET': case 'UND_ERR_CLOSED':
      return new ProxyError('LB_ERR_UPSTREAM_RESET', 'connection reset by backend', { cause: err });
    case 'UND_ERR_INVALID_ARG': case 'UND_ERR_NOT_SUPPORTED': case 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH':
      return new ProxyError('LB_ERR_BAD_REQUEST', message, { cause: err });
    case 'UND_ERR_ABORTED': case 'ERR_STREAM_PREMATURE_CLOSE': case 'ECONNABORTED':
      return new ProxyError('LB_ERR_CLIENT_CLOSED', 'client closed the request', { cause: err });
    default:
      if (typeof code === 'string' && (code.startsWith('HPE_') || code === 'UND_ERR_INFO' || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH')) {
        return new ProxyError('LB_ERR_UPSTREAM_PROTOCOL', `invalid response from backend: ${message}`, { cause: err });
      }
      if (typeof code === 'string' && (code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL') || code.includes('CERT'))) {
        return new ProxyError('LB_ERR_UPSTREAM_CONNECT', `TLS error: ${message}`, { cause: err });
      }
      return new ProxyError('LB_ERR_INTERNAL', message, { cause: err });
  }
}
