import type { Deadline } from '../proxy/deadlines.js';
import type { Explanation } from '../proxy/explain.js';
import type { PolicyNote } from '../proxy/policy-explain.js';
import type { CompressionPolicy } from '../proxy/compression/index.js';
import type { RequestTrace } from '../tracing/span.js';
import { ServerResponse, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { PickRequest } from '../balancer/index.js';
import type { Backend } from '../pool/index.js';
import type { HookRun } from '../hooks/run.js';
import type { ClientCertificate } from '../tls/client-certificate.js';

/** Edits a flat header list ([name, value, …]): a route's header modifier, compiled. */
export interface HeaderEdit {
  apply(headers: readonly string[]): string[];
  /**
   * As `apply`, for a transport that can hold a response head while an edit is asynchronous (a
   * hook's onResponse returned a promise): undefined then, and `holder.resumeHead` gets the edited
   * fields once it settles (never, when the request ends meanwhile).
   */
  hold?(headers: readonly string[], holder: HeadHolder): string[] | undefined;
}

/** What holds a response head for an asynchronous edit (the attempt; see HeaderEdit.hold). */
export interface HeadHolder {
  resumeHead(headers: string[]): void;
}

/**
 * Caches kept on a compiled route for what a request's end would otherwise look up by route
 * name: with many routes, the maps' entries for a route are long evicted from the CPU cache when
 * it comes up again, and the compiled route, read to route the request, is not. A cache has one
 * owner (the tally that filled it), checked before use.
 */
export interface RouteCache {
  /** The route's name: the cache holds for a request whose `route` is this. */
  readonly name: string;
  /** The tally whose rows `rows` holds. */
  rowsOwner: object | undefined;
  /** [backend, its row, backend, its row, …]: the route's metrics rows, a few backends' worth. */
  readonly rows: (Backend | Float64Array)[];
}

/** Something running for a request that can be stopped. */
export interface Cancellable {
  cancel(reason: Error): void;
}

/** On a socket whose PROXY protocol header named a client: that address (see edge/proxy-gate.ts). */
export const PROXY_SOURCE = Symbol('PROXY protocol source');
/** On a socket whose PROXY protocol v2 header carried TLVs: their raw bytes. */
export const PROXY_TLVS = Symbol('PROXY protocol TLVs');
/** On a socket whose PROXY protocol header named a client: that client's port. */
export const PROXY_SOURCE_PORT = Symbol('PROXY protocol source port');

/**
 * A socket's client address: the source its PROXY protocol header gave, else its peer address,
 * IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) unwrapped.
 */
export function clientAddress(socket: Socket): string {
  const proxied = (socket as unknown as Record<symbol, string | undefined>)[PROXY_SOURCE];
  if (proxied !== undefined) return proxied;
  const address = socket.remoteAddress ?? '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** What went wrong with a request, as recorded for the access log. */
export interface ContextError {
  readonly code: string;
  readonly status: number;
  readonly message: string;
}

/**
 * What the chain and the proxy read of a request, whichever engine parsed it (node:http's
 * IncomingMessage, or the fast engine's request).
 */
export interface ClientRequest {
  method?: string;
  url?: string;
  readonly headers: IncomingHttpHeaders;
  /** Replaced (never edited in place) by a route's header modifier or rewrite. */
  rawHeaders: string[];
  readonly httpVersionMajor: number;
  /** The whole request, body included, has been read. */
  readonly complete: boolean;
  readonly socket: Socket;
}

/** What the chain and the proxy do to a response, whichever engine sends it. */
export interface ClientResponse {
  statusCode: number;
  readonly headersSent: boolean;
  /** Cleared to close the connection after this response. */
  shouldKeepAlive: boolean;
  setHeader(name: string, value: string | number): unknown;
  appendHeader(name: string, value: string): unknown;
  /** Sends the response (with `body` when given) and ends it. */
  end(body?: Buffer): unknown;
  /** Cuts the connection: the response cannot be completed. */
  destroy(): unknown;
}

/**
 * The state of one request from arrival to the end of its response: request id, chosen
 * backend, status, bytes, timing, cancellation. One object per request, with a fixed shape.
 */
export class RequestContext implements PickRequest {
  readonly req: ClientRequest;
  readonly res: ClientResponse;
  readonly startTime = performance.now();
  /** When its end hooks began (performance.now()), 0 before: every hook sees the same duration. */
  endTime = 0;
  /** `http` or `https`: how the request reached us. */
  readonly proto: string;
  id = '';
  backend: Backend | undefined = undefined;
  /** Response body bytes sent to the client (for a tunnel: every byte from the backend). */
  bytes = 0;
  /** Request body bytes sent to the backend (for a tunnel: every byte from the client). */
  bytesIn = 0;
  /** An Upgrade request (WebSocket): it may become a tunnel. */
  upgrade = false;
  /** An Upgrade request's bytes that came after its head, to forward once the backend agrees. */
  head: Buffer | undefined = undefined;
  /** True once the backend answered 101 and the connections became a tunnel. */
  tunnel = false;
  /** Backends tried so far (retries): 1 for a request that went through at the first try. */
  tries = 1;
  /** Backends a retry must not go to; made on the first retry. */
  excluded: Set<Backend> | undefined = undefined;
  error: ContextError | undefined = undefined;
  /** The edge policy (or its rule) that refused the request (`basic-auth`, `rate-limit`, `deny 10.0.0.0/8`, …), '' for none: the access line's `policy`. */
  policy = '';
  /** True once the client connection closed before the response was complete. */
  clientClosed = false;
  /** Headers to add to the response (a sticky cookie, say); undefined when there are none. */
  responseHeaders: string[] | undefined = undefined;
  /** The route that matched ('' without routes, or when none matched) and the pool it went to. */
  route = '';
  pool = 'default';
  /** The compiled route's own caches, set with `route` by the route (see RouteCache); undefined otherwise. */
  routeCache: RouteCache | undefined = undefined;
  /** Told of each request body chunk as it goes to the backend: a RequestMirror keeping a copy of a small body. */
  bodyTap: ((chunk: Buffer | string) => void) | undefined = undefined;
  /**
   * Why the route matched (`match=PathPrefix:/v1 host=api.example.com`), or why no route did:
   * a string the router made when it compiled the table, so setting it costs nothing.
   */
  routeReason = '';
  /** A route's ResponseHeaderModifier: applied to the backend's response head. */
  responseModifier: HeaderEdit | undefined = undefined;
  /** A route's Compression filter: overrides COMPRESSION for its requests (a policy offering nothing: off). */
  compression: CompressionPolicy | undefined = undefined;
  /** How the request was routed, when it asked (X-LB-Explain with the admin token). */
  explain: Explanation | undefined = undefined;
  /** Whether it asked to be explained, once the chain has looked (undefined: not looked yet; see explainRequests). */
  explaining: boolean | undefined = undefined;
  /** What each edge policy decided for it, recorded only when it asked to be explained. */
  policies: PolicyNote[] | undefined = undefined;
  /** What the proxy is doing for it now (an attempt on a backend, a wait in the queue): what a cancellation stops. */
  attempt: Cancellable | undefined = undefined;
  /** REQUEST_TIMEOUT's entry (or the grpc-timeout's, when that is sooner), until the response starts. */
  deadline: Deadline | undefined = undefined;
  /** A gRPC call over HTTP/2 (set by the proxy): its grpc-status is watched by the status policy. */
  grpc = false;
  /** The call's grpc-status, the backend's or the balancer's own answer's: 0-16, 17 for any other value, -1 none. */
  grpcStatus = -1;
  /**
   * The request body as sent so far, kept so that a retry can send it again (a gRPC call retried
   * on UNAVAILABLE); undefined when it is not kept, or grew past what is kept.
   */
  replay: Buffer[] | undefined = undefined;
  replayBytes = 0;
  /** Its hooks (HOOKS_MODULE, routes' hooks), when the configuration it arrived under has any. */
  hooks: HookRun | undefined = undefined;
  /** The client's verified TLS certificate (TLS_CLIENT_AUTH optional or require); undefined without one, or with client auth off. */
  clientCertificate: ClientCertificate | undefined = undefined;
  /** The claims of the token the route's JWT filter verified (never an unverified token's): for HASH_KEY and RATE_LIMIT_KEY jwt:…. */
  jwtClaims: Readonly<Record<string, unknown>> | undefined = undefined;
  /** For routes with claim matches: what each one's JWT filter verified (null: no valid token); made on first need. */
  routeClaims: Map<object, Readonly<Record<string, unknown>> | null> | undefined = undefined;
  /**
   * The request's trace id and its server span's id (32 and 16 lowercase hex) once tracing has
   * recorded its span for export: set as it arrives when the sampler keeps it, at its end (before
   * the access line) when the tail rule does; undefined otherwise and with tracing off.
   */
  traceId: string | undefined = undefined;
  spanId: string | undefined = undefined;
  /** Tracing's record of the request (OTEL_EXPORTER_OTLP_ENDPOINT set); undefined with tracing off. */
  trace: RequestTrace | undefined = undefined;
  readonly #baseLog: Logger;
  /** Kept here because undici detaches `req.socket` when it is done with a request body. */
  readonly #socket: Socket;
  #clientIp: string | undefined = undefined;
  #log: Logger | undefined = undefined;
  #abort: AbortController | undefined = undefined;

  constructor(req: ClientRequest, res: ClientResponse, log: Logger, proto: string) {
    this.req = req;
    this.res = res;
    this.#baseLog = log;
    this.#socket = req.socket;
    this.proto = proto;
  }

  get method(): string {
    return this.req.method ?? 'GET';
  }

  get path(): string {
    return this.req.url ?? '/';
  }

  get headers(): IncomingHttpHeaders {
    return this.req.headers;
  }

  /**
   * The client's address: the connection's peer, or the address a trusted proxy gave
   * (TRUSTED_PROXIES). Hashing, the access line, access lists and the X-Forwarded-For sent on use it.
   */
  get clientIp(): string {
    if (this.#clientIp !== undefined) return this.#clientIp;
    return (this.#clientIp = clientAddress(this.#socket));
  }

  set clientIp(address: string) {
    this.#clientIp = address;
  }

  /**
   * The v2 TLVs of the connection's PROXY protocol header (type, 2-byte length, value, …; see
   * edge/proxy-protocol.ts's tlvValue), or undefined: read from the socket only by what asks
   * (a route's proxyProtocolTlv match, HASH_KEY or RATE_LIMIT_KEY tlv:…).
   */
  get proxyTlvs(): Buffer | undefined {
    return (this.#socket as unknown as Record<symbol, Buffer | undefined>)[PROXY_TLVS];
  }

  /** The client connection (its PROXY header's slots, our listener's address). */
  get socket(): Socket {
    return this.#socket;
  }

  addResponseHeader(name: string, value: string): void {
    (this.responseHeaders ??= []).push(name, value);
  }

  /** A logger whose every line carries this request's id (created on first use). */
  get log(): Logger {
    return (this.#log ??= this.#baseLog.child({ reqId: this.id }));
  }

  /**
   * Aborted when the client goes away before the response is complete. Created on first use,
   * so requests whose handlers never ask for it pay nothing; the proxy's upstream exchange is
   * cancelled by the same `abort()` call.
   */
  get signal(): AbortSignal {
    return (this.#abort ??= new AbortController()).signal;
  }

  /** Cancels everything still running for this request. */
  abort(reason: Error): void {
    this.clientClosed = true;
    this.attempt?.cancel(reason);
    this.#abort?.abort(reason);
  }

  /** The status the client saw, or 499 when it left before a response was sent. */
  get status(): number {
    if (this.tunnel) return 101;
    if (this.res.headersSent) return this.res.statusCode;
    return this.clientClosed ? 499 : (this.error?.status ?? this.res.statusCode);
  }

  /** Milliseconds from its arrival to its end (or, before it ends, to now). */
  get duration(): number {
    return (this.endTime === 0 ? performance.now() : this.endTime) - this.startTime;
  }
}

/** node:http's response with a slot for its context, so listeners need no per-request closure. */
export class ContextResponse<Request extends IncomingMessage = IncomingMessage> extends ServerResponse<Request> {
  context: RequestContext | undefined = undefined;
  /** Set once its request has ended (the end hooks ran): a response is ended once. */
  ended = false;
}
