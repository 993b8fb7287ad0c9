import { isIP } from 'node:net';
import { createSecureContext } from 'node:tls';
import { CLIENT_AUTH_MODES, type ClientAuthMode } from '../tls/client-certificate.js';
import { parseKeySource } from '../balancer/hash-key.js';
import { CIDR_EXPECTED, parseCidr } from '../edge/cidr.js';
import { TLV_EXPECTED } from '../edge/request-keys.js';
import { PROXY_PROTOCOL_MODES, SEND_PROXY_MODES, type ProxyProtocolMode, type SendProxyMode } from '../edge/proxy-protocol.js';
import { BACKEND_PROTOS, checkUnique, InvalidBackend, isDnsBackend, parseConfiguredEntry, type BackendEntry, type BackendProto, type BackendSpec } from '../pool/index.js';
import type { RouteSpec } from '../routing/route-spec.js';
import { formatDuration, parseDuration } from './duration.js';
import type { PoolConfig } from './pools.js';
import { InvalidValue } from './errors.js';
import { parseRate, type Rate } from '../rate-limit/rate.js';
import { parseRateLimitKey, RATE_LIMIT_MODES, type RateLimitMode } from '../rate-limit/spec.js';
import { encodings, levels, mediaTypes } from './compression.js';
import { DEFAULT_LEVELS, DEFAULT_MIN_SIZE, DEFAULT_TYPES, type Encoding } from '../proxy/compression/index.js';
import { compileAccessFormat, UnknownAccessField } from '../middleware/access-format.js';
import { keyValueList, otelMillis, otlpProtocol, otlpUrl, samplerArg, samplerName, type TracingConfig } from '../tracing/config.js';

/**
 * The one table of settings. Each row drives the environment variable, the config-file key,
 * the command-line flag, the default, `--help` and the validation error, so the five can
 * never disagree.
 */
export interface Setting {
  /** Dotted key in a config file and in `createLoadBalancer()` options, e.g. `health.interval`. */
  readonly key: string;
  readonly env: string;
  /** Flag name without the dashes; always derived from `env`. */
  readonly flag: string;
  readonly help: string;
  readonly default: unknown;
  /** The default as `--help` shows it. */
  readonly defaultText: string;
  /**
   * Parses a value. `text` is true for environment variables and flags, where every value is a
   * string (lists are comma-separated). Throws InvalidValue.
   */
  readonly parse: (value: unknown, text: boolean) => unknown;
  /** A secret (a token, a key): shown only as `[redacted]` in errors, logs, `--check` and the admin API (see redact.ts). */
  readonly secret?: boolean;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['json', 'pretty'] as const;
export const ENGINES = ['node', 'fast'] as const;
export type Engine = (typeof ENGINES)[number];
export const WORKER_LISTEN_MODES = ['auto', 'reuseport', 'shared'] as const;
export type WorkerListen = (typeof WORKER_LISTEN_MODES)[number];
export type LogFormat = (typeof LOG_FORMATS)[number];
export const HEALTH_CHECK_TYPES = ['http', 'grpc'] as const;
export type HealthCheckType = (typeof HEALTH_CHECK_TYPES)[number];

/** The validated configuration. Durations are in milliseconds. */
export interface Config {
  readonly port: number;
  readonly host: string;
  /** Backends by address, and `dns+` entries that stand for the addresses a name resolves to. */
  readonly backends: readonly BackendEntry[];
  /** How the pool's backends are spoken to, unless an entry says (`|proto=`): auto, http1, h2 or h2c. */
  readonly proto: BackendProto;
  /** PROXY protocol header sent on each new connection to the pool's backends: off, v1 or v2. */
  readonly proxyProtocol: SendProxyMode;
  readonly dns: {
    /** Longest time between lookups of a dns+ backend (a shorter TTL wins). */
    readonly refresh: number;
    /** `host:port` pairs to ask; undefined: the system's resolver (getaddrinfo, /etc/hosts and search domains included). */
    readonly servers: readonly string[] | undefined;
  };
  readonly strategy: string;
  /** Strategies computed beside the live one for every request, for comparison only (no traffic). */
  readonly shadowStrategies: readonly string[];
  /** An ES module whose default export is a strategy factory; overrides `strategy`. */
  readonly strategyModule: string | undefined;
  /** ES modules of hooks run for every request (HOOKS_MODULE), in order; routes may add their own. */
  readonly hooks: readonly string[];
  /** Longest an asynchronous hook phase may take, in ms: past it the hook is abandoned and the request answered 504. */
  readonly hookTimeout: number;
  readonly hash: {
    /** `ip`, `path`, `header:<name>` or `cookie:<name>`. */
    readonly key: string;
    /** Bounded-load factor c (≥ 1), or 0 for none. */
    readonly loadFactor: number;
    readonly fallback: string;
  };
  readonly sticky: {
    /** Cookie name; undefined turns sticky sessions off. */
    readonly cookie: string | undefined;
    readonly secret: string | undefined;
  };
  readonly proxy: {
    readonly timeout: number;
    /** Upper bound on all tries of one request together, until its response starts (0: none). */
    readonly requestTimeout: number;
    /** Time allowed to open a connection to a backend. */
    readonly connectTimeout: number;
  };
  readonly retry: {
    /** Further tries after the first; 0 turns retries off. */
    readonly retries: number;
    /**
     * Backend statuses that an idempotent request without a body is retried on, and
     * `grpc-unavailable`: a gRPC call answered UNAVAILABLE (Trailers-Only) is retried, any method.
     */
    readonly onStatus: readonly (number | 'grpc-unavailable')[];
    /** Retries in flight as a share of requests in flight (0.2 is 20%); at least 3 are allowed. */
    readonly budget: number;
  };
  readonly outlier: {
    /** Consecutive gateway failures that eject a backend; 0 turns outlier detection off. */
    readonly consecutiveFailures: number;
    /** Ejection time, multiplied by the number of times the backend has been ejected (at most 10). */
    readonly ejectionTime: number;
    /** Most of the pool ejected at once, as a share (0.5 is half). */
    readonly maxEjected: number;
  };
  readonly backend: {
    /** Most requests in flight per backend; 0 is no limit. */
    readonly maxRequests: number;
    /** A backend that comes up (or back) takes a share of traffic that ramps up over this long; 0 off. */
    readonly slowStart: number;
  };
  readonly queue: {
    /** Requests that may wait for a backend with room; beyond, 503. */
    readonly size: number;
    readonly timeout: number;
  };
  readonly health: {
    /** `http`: a GET of `path`; `grpc`: the `grpc.health.v1.Health/Check` RPC (HTTP/2 backends only). */
    readonly type: HealthCheckType;
    /** The service a grpc check asks about; '' is the server as a whole. */
    readonly service: string;
    /** Undefined: check the backend URL itself, as the origin does. Not used by grpc checks. */
    readonly path: string | undefined;
    readonly interval: number;
    /** Between checks of a backend that is down or changing state. */
    readonly downInterval: number;
    readonly timeout: number;
    readonly rise: number;
    readonly fall: number;
    /** The share of its traffic a backend takes while its `application/health+json` checks say `warn`. */
    readonly warnWeight: number;
  };
  readonly http: {
    readonly maxIdleConns: number;
    readonly maxIdleConnsPerHost: number;
    readonly idleConnTimeout: number;
  };
  readonly shutdown: { readonly timeout: number };
  readonly log: {
    readonly level: LogLevel;
    readonly format: LogFormat;
    /** ACCESS_LOG: one line per request, or none. */
    readonly access: boolean;
    /** ACCESS_LOG_FORMAT: json, combined, common, or a template of {fields} (checked when read). */
    readonly accessFormat: string;
    /** ACCESS_LOG_SAMPLE: the share of 2xx and 3xx lines written (1: all). */
    readonly accessSample: number;
  };
  readonly tls: {
    /**
     * PEM certificate chains and keys, pairs in order: when set, PORT speaks HTTPS (and HTTP/2).
     * The certificate is chosen by the client's server name (SNI); the first is the default.
     */
    readonly cert: readonly string[] | undefined;
    readonly key: readonly string[] | undefined;
    /** CA certificates that client certificates are verified against (TLS_CLIENT_AUTH). */
    readonly clientCa: string | undefined;
    /** Whether clients are asked for a certificate: off, optional (routes may demand one) or require (the handshake fails without). */
    readonly clientAuth: ClientAuthMode;
    readonly minVersion: 'TLSv1.2' | 'TLSv1.3';
    /** OpenSSL cipher list (TLS 1.2) and TLS 1.3 suites; undefined: Node's defaults. */
    readonly ciphers: string | undefined;
    /** Key exchange groups, colon-separated; undefined: Node's defaults. */
    readonly ecdhCurves: string | undefined;
    /** An extra plain-HTTP listener beside the HTTPS one. */
    readonly httpPort: number | undefined;
    /** Whether the plain-HTTP listener redirects to HTTPS (308) instead of proxying. */
    readonly redirect: boolean;
    /** How often the session ticket key is replaced (with WORKERS, by the primary, for every worker); the previous one still decrypts. */
    readonly ticketRotation: number;
  };
  /** Automatic certificates (RFC 8555); off while `domains` is empty. */
  readonly acme: AcmeSettings;
  readonly backendTls: {
    readonly ca: string | undefined;
    readonly servername: string | undefined;
    readonly insecure: boolean;
    /** The client certificate (PEM chain) and key presented to https:// backends (mutual TLS). */
    readonly cert: string | undefined;
    readonly key: string | undefined;
  };
  readonly limits: {
    readonly maxHeaderSize: number;
    readonly maxHeaders: number;
    readonly headerTimeout: number;
    readonly idleTimeout: number;
    /** Longest pause of a client sending its request body, in ms; 0 is none. */
    readonly bodyTimeout: number;
    /** Longest time a client may take none of its response, in ms; 0 is none. */
    readonly sendTimeout: number;
    /** Bytes; 0 is unlimited. */
    readonly maxBodySize: number;
    /** 0 is unlimited. */
    readonly maxConnections: number;
    /** Streams an HTTP/2 client may have open at once on one connection (SETTINGS_MAX_CONCURRENT_STREAMS). */
    readonly h2MaxConcurrentStreams: number;
  };
  /** Worker processes: 0 runs in this process alone; `auto` one per core. */
  readonly workers: number | 'auto';
  /** How workers listen: each its own SO_REUSEPORT socket (reuseport), the primary's hand-off (shared), or reuseport where Node and the OS have it (auto). */
  readonly workerListen: WorkerListen;
  /** What parses plain HTTP/1.1 traffic and sends it upstream. */
  readonly engine: Engine;
  readonly admin: {
    /** The admin listener's port; undefined turns it off. */
    readonly port: number | undefined;
    readonly host: string;
    /** Bearer token for the admin API; undefined: reads only, and only on loopback. */
    readonly token: string | undefined;
    /** TRACE_URL_TEMPLATE: a trace viewer's URL with `{trace_id}` in it, linked from the dashboard's errors. */
    readonly traceUrl: string | undefined;
  };
  /** Where runtime changes to the pool are kept across restarts; undefined: nowhere. */
  readonly stateFile: string | undefined;
  /** Unknown environment variables close to a setting's name stop start-up instead of a warning. */
  readonly strict: boolean;
  readonly websocket: {
    /** Close a tunnel idle this long, in ms; 0 never. */
    readonly idleTimeout: number;
  };
  /** Policies at the front door. */
  readonly edge: {
    /** Peers whose X-Forwarded-For and Forwarded are believed, as CIDRs; empty: none. */
    readonly trustedProxies: readonly string[];
    /** Client networks let in (empty: all but the denied) and refused. */
    readonly allowCidrs: readonly string[];
    readonly denyCidrs: readonly string[];
    /** PROXY protocol versions the listeners take from TRUSTED_PROXIES peers: off, v1, v2 or auto (either). */
    readonly proxyProtocol: ProxyProtocolMode;
  };
  /** The global rate limit (RATE_LIMIT_*); routes' RateLimit filters override it. */
  readonly rateLimit: {
    /** Undefined: no global rate limit. */
    readonly rate: Rate | undefined;
    /** Undefined: one second's worth of the rate (see `defaultBurst`). */
    readonly burst: number | undefined;
    readonly key: string;
    readonly mode: RateLimitMode;
    readonly tableSize: number;
  };
  /** Compression of responses (off unless `encodings` has some). */
  readonly compression: {
    /** Codings offered, in the server's order of preference; empty: off. */
    readonly encodings: readonly Encoding[];
    readonly types: readonly string[];
    readonly minSize: number;
    readonly levels: Readonly<Record<Encoding, number>>;
  };
  /** The pools: `default` first when there is one (BACKENDS), then the config file's `pools:`. */
  readonly pools: readonly PoolConfig[];
  /** The config file's `routes:`, validated; none routes every request to the default pool. */
  readonly routes: readonly RouteSpec[];
  /** OpenTelemetry traces (the OTEL_* variables): off unless an endpoint is set. */
  readonly tracing: TracingConfig;
}

/** ACME_*: the names to get certificates for, from whom, and where to keep them. */
export interface AcmeSettings {
  /** DNS names, one certificate each; `routes`: every exact hostname of the routes; empty: off. */
  readonly domains: readonly string[] | 'routes';
  readonly email: string | undefined;
  readonly directory: string;
  /** Directory of the account key, the certificates and the order lock. */
  readonly storage: string | undefined;
  /** PEM CA bundle the ACME server's HTTPS certificate is verified with (a private ACME server). */
  readonly caFile: string | undefined;
  /** Which challenge to answer: auto is http-01 with HTTP_PORT, else tls-alpn-01. */
  readonly challenge: AcmeChallengeSetting;
  /** How often certificates are checked for renewal (and storage for certificates another instance got). */
  readonly renewCheck: number;
  /** A lock file older than this is an instance that died while ordering: taken over. */
  readonly lockStale: number;
}

export const ACME_CHALLENGES = ['auto', 'http-01', 'tls-alpn-01'] as const;
export type AcmeChallengeSetting = (typeof ACME_CHALLENGES)[number];
export const LETS_ENCRYPT = 'https://acme-v02.api.letsencrypt.org/directory';

export const DEFAULT_BACKENDS = 'http://localhost:8081,http://localhost:8082,http://localhost:8083';

function integer(min: number, max: number) {
  const expected = `an integer from ${min} to ${max}`;
  return (value: unknown): number => {
    const n = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) throw new InvalidValue(expected);
    return n;
  };
}

/** A share such as 20% or 0.2, given as a percentage or a fraction; returned as a fraction. */
function share(value: unknown, text: boolean): number {
  let n: number | undefined;
  if (typeof value === 'number' && !text) n = value > 1 ? value / 100 : value;
  else if (typeof value === 'string') {
    const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(value.trim());
    if (m) n = m[2] === '%' || Number(m[1]) > 1 ? Number(m[1]) / 100 : Number(m[1]);
  }
  if (n === undefined || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidValue('a share such as 20% or 0.2, from 0 to 100%');
  return n;
}

/** HTTP statuses, comma-separated or a list: each from 500 to 599. */
/** A list setting's items: comma-separated in text (trimmed, empty ones dropped), an array in a file; else undefined. */
function listItems(value: unknown, text: boolean): unknown[] | undefined {
  if (typeof value === 'string') return value.split(',').map((v) => v.trim()).filter((v) => v !== '');
  return !text && Array.isArray(value) ? value : undefined;
}

/** A list of strings (trimmed); undefined when the value is not one. */
function stringItems(value: unknown, text: boolean): string[] | undefined {
  const items = listItems(value, text);
  return items?.every((v) => typeof v === 'string') === true ? items.map((v) => (v as string).trim()) : undefined;
}

/** HTTP statuses from 500 to 599 and `grpc-unavailable`, comma-separated or a list. */
function statuses(value: unknown, text: boolean): readonly (number | 'grpc-unavailable')[] {
  const items = listItems(value, text);
  const list = items?.map((v) => (typeof v === 'string' && /^\d{3}$/.test(v.trim()) ? Number(v) : typeof v === 'string' ? v.trim() : v));
  if (list === undefined || !list.every((n) => n === 'grpc-unavailable' || (typeof n === 'number' && Number.isInteger(n) && n >= 500 && n <= 599))) {
    throw new InvalidValue('HTTP statuses from 500 to 599 and grpc-unavailable, comma-separated, such as 502,503,504,grpc-unavailable (or empty for none)');
  }
  return Object.freeze([...new Set(list as (number | 'grpc-unavailable')[])]);
}

function duration(min: 'zero' | 'positive') {
  const expected = `a ${min === 'zero' ? 'non-negative' : 'positive'} duration such as 250ms, 10s or 1m30s`;
  return (value: unknown, text: boolean): number => {
    // Files and programmatic options may also give plain milliseconds.
    const ms = typeof value === 'string' ? parseDuration(value.trim()) : !text && typeof value === 'number' ? value : undefined;
    if (ms === undefined || !Number.isFinite(ms) || ms < 0 || (min === 'positive' && ms === 0)) {
      throw new InvalidValue(expected);
    }
    if (ms > 2_147_483_647) throw new InvalidValue(`${expected}, at most 596h (2^31-1 ms)`);
    return ms;
  };
}

function oneOf<T extends string>(values: readonly T[]) {
  const expected = `one of ${values.join(', ')}`;
  return (value: unknown): T => {
    if (typeof value !== 'string' || !values.includes(value.trim() as T)) throw new InvalidValue(expected);
    return value.trim() as T;
  };
}

function backends(value: unknown, text: boolean): readonly BackendEntry[] {
  const expected = text ? 'a comma-separated list of http:// or https:// URLs (or dns+http:// names)' : 'a non-empty list of backend URLs';
  try {
    const items = listItems(value, text);
    if (items === undefined) throw new InvalidValue(expected);
    const list = items.map(parseConfiguredEntry);
    if (list.length === 0) throw new InvalidValue(`at least one backend: ${expected}`);
    checkUnique(list.filter((b): b is BackendSpec => !isDnsBackend(b)));
    const names = list.filter(isDnsBackend).map((b) => b.text);
    const twice = names.find((n, i) => names.indexOf(n) !== i);
    if (twice !== undefined) throw new InvalidBackend('each DNS backend once', twice);
    return list;
  } catch (err) {
    // The pool's parser says what a backend must be; the loader names the setting and source.
    if (err instanceof InvalidBackend) throw new InvalidValue(err.expected, err.part);
    throw err;
  }
}

function host(value: unknown): string {
  if (typeof value !== 'string' || !/^[A-Za-z0-9.:_%-]+$/.test(value.trim())) {
    throw new InvalidValue('an IP address or host name to listen on, such as 0.0.0.0, :: or 127.0.0.1');
  }
  return value.trim();
}

function urlPath(value: unknown): string {
  if (typeof value !== 'string' || !/^\/[\x21-\x7e]*$/.test(value.trim())) {
    throw new InvalidValue('a path that starts with "/", such as /health');
  }
  return value.trim();
}

const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";

/** Checked by the strategies' own parser; kept as text, with a header name in lower case. */
function hashKey(value: unknown): string {
  const source = typeof value === 'string' ? parseKeySource(value.trim()) : undefined;
  if (source === undefined) throw new InvalidValue(`ip, path, header:<name>, cookie:<name>, tlv:<type> (${TLV_EXPECTED}) or jwt:<claim>`);
  return source.kind === 'ip' || source.kind === 'path' ? source.kind : `${source.kind}:${source.name}`;
}

function loadFactor(value: unknown, text: boolean): number {
  const n = typeof value === 'string' && /^\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : text ? undefined : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || (n !== 0 && n < 1) || n > 100) {
    throw new InvalidValue('0 (no bound) or a factor from 1 to 100, such as 1.25');
  }
  return n;
}

function cookieName(value: unknown): string {
  if (typeof value !== 'string' || !new RegExp(`^${TOKEN}$`).test(value.trim())) throw new InvalidValue('a cookie name (letters, digits and !#$%&\'*+.^_`|~-)');
  return value.trim();
}

function secret(value: unknown): string {
  if (typeof value !== 'string' || value.length < 16) throw new InvalidValue('a secret of at least 16 characters');
  return value;
}

function modulePath(value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') throw new InvalidValue('the path of an ES module');
  return value.trim();
}

const SIZE_UNITS: Readonly<Record<string, number>> = { '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };

function size(min: number) {
  const expected = `a size in bytes, such as 16384, 16KiB, 10MB or 1GiB${min > 0 ? ` (at least ${min})` : ''}`;
  return (value: unknown, text: boolean): number => {
    let n: number | undefined;
    if (typeof value === 'number' && !text) n = value;
    else if (typeof value === 'string') {
      const m = /^(\d+)\s*([kmg]i?b|b)?$/i.exec(value.trim());
      if (m) n = Number(m[1]) * SIZE_UNITS[(m[2] ?? '').toLowerCase()]!;
    }
    if (n === undefined || !Number.isSafeInteger(n) || n < min) throw new InvalidValue(expected);
    return n;
  };
}

function bool(value: unknown, text: boolean): boolean {
  if (typeof value === 'boolean' && !text) return value;
  if (typeof value === 'string' && /^(true|false|1|0|yes|no|on|off)$/i.test(value.trim())) return /^(true|1|yes|on)$/i.test(value.trim());
  throw new InvalidValue('true or false');
}

function filePath(value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') throw new InvalidValue('a file path');
  return value.trim();
}

/** ES module paths, comma-separated or a list. */
function modulePaths(value: unknown, text: boolean): readonly string[] {
  const list = stringItems(value, text);
  if (list === undefined || list.some((p) => p === '')) throw new InvalidValue('paths of ES modules, comma-separated (or a list in a file)');
  return Object.freeze(list);
}

/** File paths, comma-separated or a list (TLS_CERT_FILE's pairs). */
function filePaths(value: unknown, text: boolean): readonly string[] {
  const list = stringItems(value, text);
  if (list === undefined || list.length === 0 || list.some((p) => p === '')) throw new InvalidValue('a file path, or several comma-separated');
  return Object.freeze(list);
}

/** An OpenSSL cipher list (TLS 1.2 names and TLS 1.3 suites, colon-separated), checked by OpenSSL itself. */
function ciphers(value: unknown): string {
  const expected = 'an OpenSSL cipher list, such as ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:TLS_AES_128_GCM_SHA256';
  if (typeof value !== 'string' || value.trim() === '') throw new InvalidValue(expected);
  try {
    createSecureContext({ ciphers: value.trim() });
  } catch {
    throw new InvalidValue(expected);
  }
  return value.trim();
}

/** Key exchange groups (colon-separated), checked by OpenSSL itself. */
function ecdhCurves(value: unknown): string {
  const expected = 'key exchange groups, colon-separated, such as X25519:P-256:P-384';
  if (typeof value !== 'string' || value.trim() === '') throw new InvalidValue(expected);
  try {
    createSecureContext({ ecdhCurve: value.trim() });
  } catch {
    throw new InvalidValue(expected);
  }
  return value.trim();
}

function names(value: unknown, text: boolean): readonly string[] {
  const list = stringItems(value, text);
  if (list === undefined) throw new InvalidValue('comma-separated strategy names, such as peak-ewma,least-connections');
  return Object.freeze([...new Set(list)]);
}

function dnsServers(value: unknown, text: boolean): readonly string[] {
  const expected = 'DNS servers as comma-separated IP addresses with optional ports, such as 10.96.0.10:53,[fd00::10]:53';
  const list = stringItems(value, text);
  if (list === undefined || list.length === 0) throw new InvalidValue(expected);
  for (const server of list) {
    const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+)|([0-9A-Fa-f:]+))(?::(\d{1,5}))?$/.exec(server);
    const address = m?.[1] ?? m?.[2] ?? m?.[3];
    // A bare IPv6 address has no port; a port after one needs the brackets.
    const port = m?.[3] !== undefined ? undefined : m?.[4];
    if (m === null || address === undefined || isIP(address) === 0 || (m[3] !== undefined && m[4] !== undefined) || (port !== undefined && (Number(port) < 1 || Number(port) > 65535))) {
      throw new InvalidValue(expected, server);
    }
  }
  return Object.freeze(list);
}

/** A name a gRPC server registers health under: usually a fully qualified service, such as my.pkg.Service. */
/** CIDRs, comma-separated or a list, each checked and kept as written. */
function cidrs(value: unknown, text: boolean): readonly string[] {
  const list = stringItems(value, text);
  if (list === undefined) throw new InvalidValue(`${CIDR_EXPECTED}, comma-separated`);
  for (const item of list) if (parseCidr(item) === undefined) throw new InvalidValue(CIDR_EXPECTED, item);
  return Object.freeze([...new Set(list)]);
}

function grpcService(value: unknown): string {
  if (typeof value !== 'string' || !/^[\x21-\x7e]{0,200}$/.test(value.trim())) {
    throw new InvalidValue('a gRPC service name such as my.package.Service (printable characters without spaces, at most 200), or empty for the server as a whole');
  }
  return value.trim();
}

function serverName(value: unknown): string {
  if (typeof value !== 'string' || !/^[A-Za-z0-9.-]+$/.test(value.trim())) throw new InvalidValue('a DNS name, such as api.internal');
  return value.trim();
}

function workers(value: unknown): number | 'auto' {
  if (value === 'auto' || (typeof value === 'string' && value.trim() === 'auto')) return 'auto';
  const n = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 256) throw new InvalidValue('auto, or a number of worker processes from 0 to 256');
  return n;
}

/** `ip`, `route`, `header:<name>` or `cookie:<name>`; a header name in lower case. */
export function rateLimitKey(value: unknown): string {
  const key = typeof value === 'string' ? parseRateLimitKey(value.trim()) : undefined;
  if (key === undefined) throw new InvalidValue(`ip, route, header:<name>, cookie:<name>, tlv:<type> (${TLV_EXPECTED}) or jwt:<claim>`);
  return key;
}

/** `json`, `combined`, `common`, or a template naming at least one known field, compiled here so a wrong name stops the start. */
function accessFormat(value: unknown): string {
  const expected = 'json, combined, common, or a template of {fields} such as "{client} {method} {path} {status} {duration_ms} {backend}"';
  const text = typeof value === 'string' ? value.trim() : undefined;
  if (text === undefined || text === '') throw new InvalidValue(expected);
  if (text === 'json' || text === 'combined' || text === 'common') return text;
  if (!/\{[A-Za-z0-9_]+\}/.test(text)) throw new InvalidValue(expected);
  try {
    compileAccessFormat(text);
  } catch (err) {
    if (err instanceof UnknownAccessField) throw new InvalidValue(`${expected}: ${err.message}`, `{${err.field}}`);
    throw err;
  }
  return text;
}

/** An http(s) URL with `{trace_id}` in it. */
function traceUrl(value: unknown): string {
  const expected = 'an http:// or https:// URL with {trace_id} in it, such as http://jaeger:16686/trace/{trace_id}';
  const text = typeof value === 'string' ? value.trim() : '';
  if (!/^https?:\/\/[^\s]+$/.test(text) || !text.includes('{trace_id}')) throw new InvalidValue(expected);
  return text;
}

const DNS_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;

/** ACME_DOMAINS: DNS names (no wildcard: HTTP-01 and TLS-ALPN-01 cannot prove one), or `routes`. */
function acmeDomains(value: unknown, text: boolean): readonly string[] | 'routes' {
  if (typeof value === 'string' && value.trim() === 'routes') return 'routes';
  const expected = 'comma-separated DNS names such as example.com,www.example.com (no wildcards: they need DNS-01), or routes';
  const list = stringItems(value, text)?.map((d) => d.toLowerCase());
  if (list === undefined) throw new InvalidValue(expected);
  for (const name of list) if (!DNS_NAME.test(name)) throw new InvalidValue(expected, name);
  return Object.freeze([...new Set(list)]);
}

function email(value: unknown): string {
  if (typeof value !== 'string' || !/^[^\s@,]+@[^\s@,]+\.[^\s@,]+$/.test(value.trim())) throw new InvalidValue('an e-mail address such as ops@example.com');
  return value.trim();
}

function httpsUrl(value: unknown): string {
  let url: URL | undefined;
  try { url = typeof value === 'string' ? new URL(value.trim()) : undefined; } catch { url = undefined; }
  if (url === undefined || url.protocol !== 'https:') throw new InvalidValue(`an https:// URL of an ACME directory, such as ${LETS_ENCRYPT}`);
  return url.href;
}

function row(key: string, env: string, help: string, defaultValue: unknown, defaultText: string, parse: Setting['parse']): Setting {
  return { key, env, flag: env.toLowerCase().replaceAll('_', '-'), help, default: defaultValue, defaultText, parse };
}

/** A setting whose value is never shown. */
function secretRow(key: string, env: string, help: string, defaultText: string): Setting {
  return { ...row(key, env, help, undefined, defaultText, secret), secret: true };
}

function durationRow(key: string, env: string, help: string, ms: number, min: 'zero' | 'positive'): Setting {
  return row(key, env, help, ms, formatDuration(ms), duration(min));
}

/** Every setting, in `--help` order. `strategy` is validated against the registry by the loader. */
export const SETTINGS: readonly Setting[] = [
  row('port', 'PORT', 'Port to listen on (0 picks a free one).', 8080, '8080', integer(0, 65535)),
  row('host', 'HOST', 'Address to listen on.', '0.0.0.0', '0.0.0.0', host),
  row('backends', 'BACKENDS', 'Backend URLs, comma-separated; each may carry a path prefix, "|weight=N" (its share of traffic) and "|id=NAME" (its name in logs, metrics and the admin API; host:port by default), as in http://10.0.0.1:3000/api|weight=2|id=api-1. dns+http://NAME:PORT stands for every address NAME resolves to (dns+srv+http://_SERVICE._tcp.NAME for SRV records).',
    backends(DEFAULT_BACKENDS, true), DEFAULT_BACKENDS, backends),
  row('proto', 'BACKEND_PROTO', 'Protocol to the backends (per pool as proto:, per backend as "|proto=P"): http1; h2c (cleartext HTTP/2 with prior knowledge, http:// backends); h2 (HTTP/2 over TLS, https:// backends); auto (https:// backends: h2 or HTTP/1.1 as the backend chooses by ALPN; http://: HTTP/1.1).', 'auto', 'auto', oneOf(BACKEND_PROTOS)),
  row('proxyProtocol', 'BACKEND_PROXY_PROTOCOL', 'PROXY protocol header (HAProxy\'s) sent on each new connection to the backends (per pool as proxyProtocol:): off, v1 or v2; it tells the client address (after TRUSTED_PROXIES and PROXY_PROTOCOL) and the listener\'s. A kept-alive connection is reused only for the same client connection. HTTP/1.1 backends only (h2, h2c and https:// auto are refused).', 'off', 'off', oneOf(SEND_PROXY_MODES)),
  durationRow('dns.refresh', 'DNS_REFRESH', 'How often dns+ backends are looked up again (sooner when the records\' TTL is shorter).', 30_000, 'positive'),
  row('dns.servers', 'DNS_SERVERS', 'DNS servers that dns+ backends are looked up with, as comma-separated host:port pairs.', undefined, 'the system\'s resolvers', dnsServers),
  row('strategy', 'STRATEGY', 'Load-balancing strategy.', 'round-robin', 'round-robin', (value) => (typeof value === 'string' ? value.trim() : value)),
  row('shadowStrategies', 'SHADOW_STRATEGIES', 'Strategies computed beside the live one for every request, without sending traffic: how often each agrees and the latency its choices predict (GET /api/shadow, /metrics).', Object.freeze([]), 'none', names),
  row('strategyModule', 'STRATEGY_MODULE', 'An ES module whose default export is a strategy factory; used instead of STRATEGY.', undefined, 'none', modulePath),
  row('hooks', 'HOOKS_MODULE', 'ES modules of hooks (onRequest, selectBackend, onUpstreamRequest, onResponse, onLog), comma-separated, run in order for every request; a route\'s hooks: run after them (see docs/hooks.md). Reloaded with the configuration.', Object.freeze([]), 'none', modulePaths),
  durationRow('hookTimeout', 'HOOK_TIMEOUT', 'Longest an asynchronous hook phase may take; past it the hook is abandoned and the request answered 504 (LB_ERR_HOOK_TIMEOUT).', 1_000, 'positive'),
  row('hash.key', 'HASH_KEY', 'consistent-hash: where the key comes from: ip, path, header:<name>, cookie:<name>, tlv:<type> (a PROXY protocol v2 TLV of the connection: authority, unique_id, alpn, netns, aws_vpce_id, or 0xNN in hex) or jwt:<claim> (of the token the route\'s JWT filter verified).', 'ip', 'ip', hashKey),
  row('hash.loadFactor', 'HASH_LOAD_FACTOR', 'consistent-hash: bounded-load factor c; no backend takes more than c × the mean in-flight load (0: no bound).', 0, '0', loadFactor),
  row('hash.fallback', 'HASH_FALLBACK', 'consistent-hash: the strategy for requests without a key.', 'round-robin', 'round-robin', (value) => (typeof value === 'string' ? value.trim() : value)),
  row('sticky.cookie', 'STICKY_COOKIE', 'Sticky sessions (around any strategy): the name of the signed cookie that pins a client to its backend.', undefined, 'none (off)', cookieName),
  secretRow('sticky.secret', 'STICKY_SECRET', 'Key that signs sticky cookies; set it so cookies survive restarts and are shared by workers.', 'random per start'),
  durationRow('proxy.connectTimeout', 'CONNECT_TIMEOUT', 'Time allowed to open a connection to a backend (else it counts as a connect failure, retried elsewhere).', 5000, 'positive'),
  row('retry.retries', 'RETRIES', 'Further tries on other backends when a backend could not be reached, or (idempotent requests without a body) reset or answered one of RETRY_ON_STATUS; 0 turns retries off.', 2, '2', integer(0, 10)),
  row('retry.onStatus', 'RETRY_ON_STATUS', 'Backend statuses an idempotent request without a body is retried on; grpc-unavailable retries a gRPC call (any method, its body kept up to 64 KiB) whose backend answered UNAVAILABLE before any message.', Object.freeze([502, 503, 504]), '502,503,504', statuses),
  row('retry.budget', 'RETRY_BUDGET', 'Most retries in flight, as a share of the requests in flight (at least 3 are always allowed).', 0.2, '20%', share),
  row('outlier.consecutiveFailures', 'OUTLIER_CONSECUTIVE_FAILURES', 'Consecutive gateway failures (cannot connect, reset, timeout, 502/503/504, gRPC UNAVAILABLE) that eject a backend from rotation; 0 turns outlier detection off.', 5, '5', integer(0, 1000)),
  durationRow('outlier.ejectionTime', 'OUTLIER_EJECTION_TIME', 'How long an ejected backend stays out, times the number of times it has been ejected (at most 10×).', 30_000, 'positive'),
  row('outlier.maxEjected', 'OUTLIER_MAX_EJECTED', 'Most of the pool ejected at once.', 0.5, '50%', share),
  row('backend.maxRequests', 'BACKEND_MAX_REQUESTS', 'Most requests in flight per backend; beyond, requests go to another backend or wait in the queue (0: no limit).', 0, '0 (no limit)', integer(0, 1_000_000)),
  durationRow('backend.slowStart', 'SLOW_START', 'A backend that comes up or back from ejection takes a share of its traffic that ramps up from near zero over this long (0: off).', 0, 'zero'),
  row('queue.size', 'QUEUE_SIZE', 'Requests that may wait when every backend is full (BACKEND_MAX_REQUESTS); beyond, 503 at once.', 1000, '1000', integer(0, 1_000_000)),
  durationRow('queue.timeout', 'QUEUE_TIMEOUT', 'Longest wait in the queue; then 503.', 10_000, 'positive'),
  durationRow('proxy.timeout', 'PROXY_TIMEOUT', 'Time allowed for a backend to start its response once the request has been sent (else 504); also the longest pause allowed within a response body, and for taking a request body.', 10_000, 'positive'),
  durationRow('proxy.requestTimeout', 'REQUEST_TIMEOUT', 'Upper bound on the time all tries of one request may take together, queue included, until its response starts (else 504; Envoy\'s route timeout); 0 turns it off.', 0, 'zero'),
  row('health.type', 'HEALTH_CHECK_TYPE', 'What a health check is: http (a GET, 2xx-3xx pass) or grpc (the grpc.health.v1.Health/Check RPC, SERVING passes; for backends spoken to over HTTP/2, proto h2c or h2).', 'http', 'http', oneOf(HEALTH_CHECK_TYPES)),
  row('health.service', 'HEALTH_CHECK_GRPC_SERVICE', 'The service a grpc health check asks about (HealthCheckRequest.service).', '', 'the server as a whole ("")', grpcService),
  row('health.path', 'HEALTH_CHECK_PATH', 'Path to GET on each backend\'s origin for http health checks.', undefined, 'the backend URL itself', urlPath),
  durationRow('health.interval', 'HEALTH_CHECK_INTERVAL', 'Time between health-check rounds (the first runs at start-up).', 30_000, 'positive'),
  durationRow('health.downInterval', 'HEALTH_CHECK_DOWN_INTERVAL', 'Time between checks of a backend that is down, or whose last check disagreed with its state (HAProxy\'s fastinter/downinter).', 2000, 'positive'),
  durationRow('health.timeout', 'HEALTH_CHECK_TIMEOUT', 'Time allowed for one health check.', 1000, 'positive'),
  row('health.rise', 'HEALTH_CHECK_RISE', 'Consecutive passing checks that bring a down backend up.', 2, '2', integer(1, 100)),
  row('health.warnWeight', 'HEALTH_WARN_WEIGHT', 'The share of its traffic a backend takes while its health checks answer application/health+json with status "warn" (status "fail" takes it down).', 0.5, '50%', share),
  row('health.fall', 'HEALTH_CHECK_FALL', 'Consecutive failing checks that take an up backend down.', 3, '3', integer(1, 100)),
  row('http.maxIdleConns', 'HTTP_MAX_IDLE_CONNS', 'Most idle upstream connections kept alive over all backends (Go\'s MaxIdleConns); it caps what is kept, not what may be open.', 30, '30', integer(1, 100_000)),
  row('http.maxIdleConnsPerHost', 'HTTP_MAX_IDLE_CONNS_PER_HOST', 'Most idle upstream connections kept alive per backend (Go\'s MaxIdleConnsPerHost); a request that finds none idle opens one, and idle ones beyond it that go unused for a second are closed. For HTTP/2 backends, the most sessions (connections) per backend.', 30, '30', integer(1, 100_000)),
  durationRow('http.idleConnTimeout', 'HTTP_IDLE_CONN_TIMEOUT', 'How long an idle upstream connection is kept (a shorter Keep-Alive hint from the backend wins).', 90_000, 'positive'),
  durationRow('shutdown.timeout', 'SHUTDOWN_TIMEOUT', 'Time allowed for in-flight requests to finish on SIGTERM/SIGINT.', 30_000, 'zero'),
  row('tls.cert', 'TLS_CERT_FILE', 'PEM certificate (chain) for HTTPS on PORT, or several comma-separated (a config file: tls.certificates: [{ cert, key }]), chosen by the client\'s server name (SNI) against each certificate\'s names, the first the default; with TLS_KEY_FILE, also offers HTTP/2. Re-read on SIGHUP and when the files change.', undefined, 'none (plain HTTP)', filePaths),
  row('tls.key', 'TLS_KEY_FILE', 'PEM private key for TLS_CERT_FILE, or one per certificate, comma-separated, in the same order.', undefined, 'none', filePaths),
  row('tls.clientCa', 'TLS_CLIENT_CA_FILE', 'PEM CA certificates that client certificates are verified against (TLS_CLIENT_AUTH).', undefined, 'none', filePath),
  row('tls.clientAuth', 'TLS_CLIENT_AUTH', 'Client certificates (mutual TLS): off; optional (asked for; a request without a valid one goes on, unless its route has a ClientCertificate filter); require (the handshake fails without a valid one). Verified ones reach backends as X-Forwarded-Client-Cert.', 'off', 'off', oneOf(CLIENT_AUTH_MODES)),
  row('tls.minVersion', 'TLS_MIN_VERSION', 'Oldest TLS version the HTTPS listener accepts: TLSv1.2 or TLSv1.3.', 'TLSv1.2', 'TLSv1.2', oneOf(['TLSv1.2', 'TLSv1.3'] as const)),
  row('tls.ciphers', 'TLS_CIPHERS', 'OpenSSL cipher list of the HTTPS listener (TLS 1.2 ciphers and TLS 1.3 suites, colon-separated).', undefined, 'Node\'s defaults', ciphers),
  row('tls.ecdhCurves', 'TLS_ECDH_CURVES', 'Key exchange groups of the HTTPS listener, colon-separated, such as X25519:P-256.', undefined, 'Node\'s defaults', ecdhCurves),
  row('tls.httpPort', 'HTTP_PORT', 'With TLS on: an extra plain-HTTP listener on this port.', undefined, 'none', integer(0, 65535)),
  row('tls.redirect', 'HTTP_REDIRECT', 'With HTTP_PORT: redirect plain-HTTP requests to HTTPS (308) instead of proxying them.', false, 'false', bool),
  durationRow('tls.ticketRotation', 'TLS_TICKET_ROTATION', 'How often the TLS session ticket key is replaced (the previous one still decrypts until the next rotation); with WORKERS the primary makes it for every worker (a session resumes on any worker).', 12 * 3_600_000, 'positive'),
  row('acme.domains', 'ACME_DOMAINS', 'Names to get certificates for automatically (ACME, one certificate each), comma-separated; routes: every exact hostname of the routes. Turns HTTPS on for PORT.', Object.freeze([]), 'none (off)', acmeDomains),
  row('acme.email', 'ACME_EMAIL', 'Contact address of the ACME account (expiry notices).', undefined, 'none', email),
  row('acme.directory', 'ACME_DIRECTORY', `ACME directory URL; Let's Encrypt's staging is https://acme-staging-v02.api.letsencrypt.org/directory.`, LETS_ENCRYPT, "Let's Encrypt (production)", httpsUrl),
  row('acme.storage', 'ACME_STORAGE', 'Directory of the ACME account key and certificates (files 0600, written atomically); instances sharing it order one at a time.', undefined, 'none (required with ACME_DOMAINS)', filePath),
  row('acme.caFile', 'ACME_CA_FILE', 'PEM CA bundle that the ACME directory\'s HTTPS certificate is verified with (a private ACME server).', undefined, 'the system CAs and Node\'s', filePath),
  row('acme.challenge', 'ACME_CHALLENGE', 'Challenge answered: http-01 (on HTTP_PORT, which must be 80 for a public CA), tls-alpn-01 (on PORT, 443), or auto (http-01 with HTTP_PORT, else tls-alpn-01).', 'auto', 'auto', oneOf(ACME_CHALLENGES)),
  durationRow('acme.renewCheck', 'ACME_RENEW_CHECK', 'How often certificates are checked for renewal (due at two thirds of their lifetime) and storage for certificates another instance got.', 3_600_000, 'positive'),
  durationRow('acme.lockStale', 'ACME_LOCK_STALE', 'A lock file in ACME_STORAGE older than this belongs to an instance that died while ordering, and is taken over.', 600_000, 'positive'),
  row('backendTls.ca', 'BACKEND_CA_FILE', 'PEM CA bundle to verify https:// backends with, instead of the system CAs and Node\'s roots.', undefined, 'the system CAs and Node\'s', filePath),
  row('backendTls.servername', 'BACKEND_SERVERNAME', 'TLS server name (SNI, and the name verified) for https:// backends.', undefined, 'the backend URL\'s host', serverName),
  row('backendTls.insecure', 'BACKEND_TLS_INSECURE', 'Do not verify https:// backends\' certificates (for tests only; logged loudly).', false, 'false', bool),
  row('backendTls.cert', 'BACKEND_CERT_FILE', 'PEM client certificate (chain) presented to https:// backends that ask for one (mutual TLS); per pool as tls.cert. Re-read when the file changes.', undefined, 'none', filePath),
  row('backendTls.key', 'BACKEND_KEY_FILE', 'PEM private key for BACKEND_CERT_FILE; per pool as tls.key.', undefined, 'none', filePath),
  row('limits.maxHeaderSize', 'MAX_HEADER_SIZE', 'Largest request head (request line and headers); larger gets 431.', 16 * 1024, '16KiB', size(1024)),
  row('limits.maxHeaders', 'MAX_HEADERS', 'Most request headers; more gets 431.', 100, '100', integer(1, 10_000)),
  durationRow('limits.headerTimeout', 'HEADER_TIMEOUT', 'Time to receive a request\'s complete head (against slowloris); else 408 and close.', 10_000, 'positive'),
  durationRow('limits.idleTimeout', 'CLIENT_IDLE_TIMEOUT', 'How long an idle client connection stays open (HTTP/1.1 keep-alive, or an HTTP/2 session with no stream).', 60_000, 'positive'),
  durationRow('limits.bodyTimeout', 'CLIENT_BODY_TIMEOUT', 'Longest pause of a client sending its request body; else 408 and close (0: none).', 60_000, 'zero'),
  durationRow('limits.sendTimeout', 'CLIENT_SEND_TIMEOUT', 'Longest time a client may take none of its response; else it is disconnected and the upstream request aborted (0: none).', 60_000, 'zero'),
  row('limits.maxBodySize', 'MAX_BODY_SIZE', 'Largest request body; larger gets 413 (0: unlimited).', 0, '0 (unlimited)', size(0)),
  row('limits.maxConnections', 'MAX_CONNECTIONS', 'Most open client connections; more are closed at once (0: unlimited).', 0, '0 (unlimited)', integer(0, 10_000_000)),
  row('limits.h2MaxConcurrentStreams', 'H2_MAX_CONCURRENT_STREAMS', 'Most streams (requests) an HTTP/2 client may have open at once on one connection (SETTINGS_MAX_CONCURRENT_STREAMS); a client that opens more is closed with GOAWAY PROTOCOL_ERROR.', 100, '100', integer(1, 10_000)),
  row('engine', 'ENGINE', 'HTTP/1.1 engine of the listeners, plain and TLS: fast (raw sockets and llhttp; falls back to node, with a warning, if its start-up self-test fails) or node (node:http and undici). HTTP/2 clients (h2 by ALPN, h2c) are node:http2\'s on either.', 'fast', 'fast', oneOf(ENGINES)),
  row('workers', 'WORKERS', 'Worker processes sharing the port (node:cluster): auto (one per core) or N; 0 runs everything in one process.', 0, '0', workers),
  row('workerListen', 'WORKER_LISTEN', 'How workers take connections: reuseport (each worker its own SO_REUSEPORT socket, the kernel spreads connections; Linux with Node 22.12+/23.1+), shared (the primary accepts and hands each connection to a worker, node:cluster\'s round robin) or auto (reuseport where supported, else shared).', 'auto', 'auto', oneOf(WORKER_LISTEN_MODES)),
  row('admin.port', 'ADMIN_PORT', 'Port of the admin listener (probes, /metrics, the admin API); never the traffic port. Off when not set.', undefined, 'none (off)', integer(0, 65535)),
  row('admin.host', 'ADMIN_HOST', 'Address of the admin listener; other than loopback, ADMIN_TOKEN is required.', '127.0.0.1', '127.0.0.1', host),
  secretRow('admin.token', 'ADMIN_TOKEN', 'Bearer token (at least 16 characters) the admin API requires; without it, the API only reads.', 'none'),
  row('stateFile', 'STATE_FILE', 'JSON file where changes made through the admin API are kept (written atomically) and reapplied at start.', undefined, 'none', filePath),
  row('strict', 'STRICT_ENV', 'Exit (2) on an environment variable that looks like a misspelt setting, instead of warning.', false, 'false', bool),
  durationRow('websocket.idleTimeout', 'TUNNEL_IDLE_TIMEOUT', 'Close a WebSocket (or other upgraded) tunnel with no traffic either way for this long (0: never).', 3_600_000, 'zero'),
  row('edge.trustedProxies', 'TRUSTED_PROXIES', 'Networks of the proxies in front (CIDRs, comma-separated): from these peers the client address is read from X-Forwarded-For (right to left, trusted hops skipped) or Forwarded; from any other, those headers are not believed.', Object.freeze([]), 'none', cidrs),
  row('edge.proxyProtocol', 'PROXY_PROTOCOL', 'PROXY protocol header (HAProxy\'s) before the client\'s bytes (and before the TLS handshake): off, v1, v2 or auto (either). On, a TRUSTED_PROXIES peer must send one (else its connection is closed), and another peer that sends one is closed; the header\'s source is the client address.', 'off', 'off', oneOf(PROXY_PROTOCOL_MODES)),
  row('edge.allowCidrs', 'ALLOW_CIDRS', 'Client networks let in (CIDRs, comma-separated); any other client address gets 403. The most specific network of ALLOW_CIDRS and DENY_CIDRS decides; a route\'s AccessList filter replaces both.', Object.freeze([]), 'none (all)', cidrs),
  row('edge.denyCidrs', 'DENY_CIDRS', 'Client networks refused with 403 (CIDRs, comma-separated).', Object.freeze([]), 'none', cidrs),
  row('rateLimit.rate', 'RATE_LIMIT', 'Rate limit per key (RATE_LIMIT_KEY) over every route without its own RateLimit filter: N/s, N/m or N/h, such as 100/s; beyond it, 429 with Retry-After (GCRA).', undefined, 'none (off)', parseRate),
  row('rateLimit.burst', 'RATE_LIMIT_BURST', 'Requests a key may send at once, on top of the steady rate.', undefined, 'one second\'s worth of RATE_LIMIT (at least 1)', integer(1, 1_000_000_000)),
  row('rateLimit.key', 'RATE_LIMIT_KEY', 'What a rate limit counts by: ip (the client address), route (one count per route), header:<name>, cookie:<name>, tlv:<type> (a PROXY protocol v2 TLV of the connection) or jwt:<claim> (of the token the route\'s JWT filter verified; taken after that filter); requests without one share one count.', 'ip', 'ip', rateLimitKey),
  row('rateLimit.mode', 'RATE_LIMIT_MODE', 'enforce (refuse beyond the limit) or shadow (let everything through; count and log what would have been refused).', 'enforce', 'enforce', oneOf(RATE_LIMIT_MODES)),
  row('rateLimit.tableSize', 'RATE_LIMIT_TABLE_SIZE', 'Most keys a rate limit keeps (each route filter its own table); beyond, the least recently seen is forgotten.', 100_000, '100000', integer(1, 10_000_000)),
  row('compression.encodings', 'COMPRESSION', 'Compress responses with these codings, in order of preference, as the client\'s Accept-Encoding allows (br, gzip; zstd on Node 22.15 or later); off: never. A route\'s Compression filter overrides it.', Object.freeze([]), 'off', encodings),
  row('compression.types', 'COMPRESSION_TYPES', 'Content types compressed (type/* matches a whole type).', DEFAULT_TYPES, 'text/*, JSON, JavaScript, XML, SVG and more (see the README)', mediaTypes),
  row('compression.minSize', 'COMPRESSION_MIN_SIZE', 'Smallest Content-Length compressed (a body without one, chunked, is compressed).', DEFAULT_MIN_SIZE, '1KiB', size(0)),
  row('compression.levels', 'COMPRESSION_LEVEL', 'Compression level per coding, as coding:level pairs (gzip 1-9, br 0-11, zstd 1-19); codings not named keep their default.', DEFAULT_LEVELS, 'gzip:5,br:4,zstd:3', levels),
  row('log.level', 'LOG_LEVEL', `Log level: ${LOG_LEVELS.join(', ')}.`, 'info', 'info', oneOf(LOG_LEVELS)),
  row('log.format', 'LOG_FORMAT', 'Log format: json (one object per line) or pretty (for people).', 'json', 'json', oneOf(LOG_FORMATS)),
  row('log.access', 'ACCESS_LOG', 'One access line per request (on), or none (off).', true, 'on', bool),
  row('log.accessFormat', 'ACCESS_LOG_FORMAT', 'Access-line format: json (a JSON object, with the other log lines), combined or common (nginx\'s and Apache\'s formats, exactly), or a template of {fields} such as "{client} {method} {path} {status} {duration_ms} {backend} {trace_id}" (see the README for the field names).', 'json', 'json', accessFormat),
  row('log.accessSample', 'ACCESS_LOG_SAMPLE', 'Share of 2xx and 3xx access lines written, at random (every other status is always written).', 1, '100%', share),
  row('admin.traceUrl', 'TRACE_URL_TEMPLATE', 'A trace viewer\'s URL with {trace_id} in it (http://jaeger:16686/trace/{trace_id}): the dashboard links each error to its trace.', undefined, 'none', traceUrl),
  row('tracing.endpoint', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'OpenTelemetry collector (OTLP/HTTP) base URL: traces go to its /v1/traces. Tracing is off unless this or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set.', undefined, 'none (tracing off)', otlpUrl),
  row('tracing.tracesEndpoint', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTLP/HTTP URL traces are POSTed to, used as it is (wins over OTEL_EXPORTER_OTLP_ENDPOINT).', undefined, 'none', otlpUrl),
  row('tracing.protocol', 'OTEL_EXPORTER_OTLP_PROTOCOL', 'OTLP encoding: http/protobuf or http/json.', 'http/protobuf', 'http/protobuf', otlpProtocol),
  { ...row('tracing.headers', 'OTEL_EXPORTER_OTLP_HEADERS', 'Headers sent with every export, as key=value pairs (percent-encoded), comma-separated: an API key, say.', Object.freeze({}), 'none', keyValueList), secret: true },
  row('tracing.timeout', 'OTEL_EXPORTER_OTLP_TIMEOUT', 'Time allowed for one export (milliseconds, or a duration); a failed export\'s spans are dropped and counted.', 10_000, '10000 (10s)', otelMillis(1)),
  row('tracing.serviceName', 'OTEL_SERVICE_NAME', 'The service.name resource attribute of every span.', 'load-balancer', 'load-balancer', (value) => { if (typeof value !== 'string' || value.trim() === '') throw new InvalidValue('a non-empty name'); return value.trim(); }),
  row('tracing.resourceAttributes', 'OTEL_RESOURCE_ATTRIBUTES', 'More resource attributes, as key=value pairs (percent-encoded), comma-separated, such as deployment.environment=prod.', Object.freeze({}), 'none', keyValueList),
  row('tracing.sampler', 'OTEL_TRACES_SAMPLER', 'Head sampler: always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio (parentbased_*: a client\'s traceparent decides when it sends one). Requests answered 5xx, retried or slower than TRACE_SLOW_THRESHOLD are exported whatever it decides.', 'parentbased_always_on', 'parentbased_always_on', samplerName),
  row('tracing.samplerArg', 'OTEL_TRACES_SAMPLER_ARG', 'The traceidratio samplers\' ratio, from 0 to 1.', 1, '1', samplerArg),
  durationRow('tracing.slowThreshold', 'TRACE_SLOW_THRESHOLD', 'Requests that take longer than this are exported even when the sampler dropped them (0: no such rule).', 1000, 'zero'),
  row('tracing.maxQueue', 'OTEL_BSP_MAX_QUEUE_SIZE', 'Most spans waiting for export; beyond, new ones are dropped and counted (lb_trace_spans_dropped_total).', 2048, '2048', integer(1, 1_000_000)),
  row('tracing.batchSize', 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 'Most spans per export; a full batch goes at once.', 512, '512', integer(1, 1_000_000)),
  row('tracing.scheduleDelay', 'OTEL_BSP_SCHEDULE_DELAY', 'Longest time spans wait before they are exported (milliseconds, or a duration).', 5000, '5000 (5s)', otelMillis(1)),
];

export const SETTINGS_BY_KEY: ReadonlyMap<string, Setting> = new Map(SETTINGS.map((s) => [s.key, s]));
