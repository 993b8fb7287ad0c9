import { existsSync, readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { parse as parseYaml } from 'yaml';
import { ConfigError, InvalidValue, show } from './errors.js';
import { redact, REDACTED as REDACTED_TEXT } from './redact.js';
import { parseRoutes, type RouteSpec } from '../routing/route-spec.js';
import { RouteTable } from '../routing/route-table.js';
import { DEFAULT_POOL, poolEntries, poolSettings, POOL_SETTINGS, type PoolConfig } from './pools.js';
import { SETTINGS, SETTINGS_BY_KEY, type Config, type Setting } from './settings.js';
import { InvalidBackend, isDnsBackend, parseProto, resolveProto } from '../pool/index.js';
import { checkAcme } from '../tls/acme/names.js';

/** One source of values. Later layers override earlier ones. */
export interface Layer {
  /** How a setting is named in this source, for error messages: `PORT`, `--port`, `port in lb.yaml`. */
  readonly label: (setting: Setting) => string;
  /** True when values are strings to parse (environment, flags). */
  readonly text: boolean;
  readonly values: ReadonlyMap<string, unknown>;
  /** A config file's (or library input's) `pools:` and `routes:` sections, as given: checked by `resolveConfig`. */
  readonly pools?: unknown;
  readonly routes?: unknown;
  /** Where `pools`/`routes` came from, for errors: ` in lb.yaml`, or ''. */
  readonly where?: string;
}

/** Environment variables (`BACKENDS`, `PROXY_TIMEOUT`, ...); an empty value counts as unset. */
export function envLayer(env: Readonly<Record<string, string | undefined>>, source = 'environment'): Layer {
  const values = new Map<string, unknown>();
  for (const setting of SETTINGS) {
    const value = env[setting.env];
    // Empty counts as unset, but for BACKENDS: an empty pool given on purpose is a mistake.
    if (value !== undefined && (value !== '' || setting.key === 'backends')) values.set(setting.key, value);
  }
  return { label: (s) => (source === 'environment' ? s.env : `${s.env} in ${source}`), text: true, values };
}

/** The `.env` file in `dir`, when there is one. */
export function dotenvLayer(dir: string): Layer | undefined {
  const values = dotenvValues(dir);
  return values === undefined ? undefined : envLayer(values, '.env');
}

/** The variables of the `.env` file in `dir`, when there is one. */
export function dotenvValues(dir: string): Record<string, string> | undefined {
  const path = resolve(dir, '.env');
  if (!existsSync(path)) return undefined;
  return parseDotenv(readFile(path, '.env file', 'a readable file of NAME=value lines'));
}

/** Command-line flags, by flag name without dashes (`proxy-timeout`). */
export function flagLayer(flags: Readonly<Record<string, unknown>>): Layer {
  const values = new Map<string, unknown>();
  for (const setting of SETTINGS) {
    const value = flags[setting.flag];
    if (value !== undefined) values.set(setting.key, value);
  }
  return { label: (s) => `--${s.flag}`, text: true, values };
}

/** A nested object with file-style keys: a config file's content or `createLoadBalancer()` options. */
export function objectLayer(data: unknown, source: string | undefined): Layer {
  const values = new Map<string, unknown>();
  const where = source === undefined ? '' : ` in ${source}`;
  let pools: unknown;
  let routes: unknown;
  if (data !== null && typeof data === 'object' && !Array.isArray(data) && ('pools' in data || 'routes' in data)) {
    ({ pools, routes, ...data } = data as Record<string, unknown>);
  }
  flatten(certificatesAsPairs(data, where), '', values, where, SETTINGS);
  return { label: (s) => `${s.key}${where}`, text: false, values, pools, routes, where };
}

/**
 * A config file's `tls.certificates: [{ cert, key }, …]` as the lists TLS_CERT_FILE and
 * TLS_KEY_FILE take (pairs in order).
 */
function certificatesAsPairs(data: unknown, where: string): unknown {
  const tls = (data as { tls?: unknown } | null)?.tls;
  if (tls === null || typeof tls !== 'object' || Array.isArray(tls) || !('certificates' in tls)) return data;
  const { certificates, ...rest } = tls as Record<string, unknown>;
  const expected = 'a list of { cert, key } file pairs, the first the default';
  if (!Array.isArray(certificates) || certificates.length === 0) throw new ConfigError(`invalid tls.certificates${where} ${show(certificates)}: expected ${expected}`);
  if ('cert' in rest || 'key' in rest) throw new ConfigError(`invalid tls.certificates${where} beside tls.cert or tls.key: expected one of the two ways to name the certificates`);
  const cert: unknown[] = [];
  const key: unknown[] = [];
  for (const [i, pair] of certificates.entries()) {
    const p = pair as { cert?: unknown; key?: unknown } | null;
    if (p === null || typeof p !== 'object' || Object.keys(p).some((k) => k !== 'cert' && k !== 'key') || typeof p.cert !== 'string' || typeof p.key !== 'string') {
      throw new ConfigError(`invalid tls.certificates[${i}]${where} ${show(pair)}: expected { cert: FILE, key: FILE }`);
    }
    cert.push(p.cert);
    key.push(p.key);
  }
  return { ...(data as Record<string, unknown>), tls: { ...rest, cert, key } };
}

/** Reads a YAML or JSON config file. */
export function fileLayer(path: string): Layer {
  const text = readFile(path, 'config file', 'a YAML or JSON file of settings (--config FILE)');
  // An empty file is a mistake, or a file caught half-written (an editor or a deploy truncates,
  // then writes): read as "no settings", a reload would replace the pool with the defaults.
  if (text.trim() === '') throw new ConfigError(`config file ${path} is empty: expected a YAML or JSON file of settings`);
  let data: unknown;
  const json = extname(path).toLowerCase() === '.json';
  try {
    data = json ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid ${json ? 'JSON' : 'YAML'}: ${json ? String((err as Error).message) : yamlProblem(err, text)}`);
  }
  return objectLayer(data ?? {}, path);
}

/**
 * The YAML parser's message on one line: the problem, where it is, and the line it is on (its
 * own message ends on a colon before a multi-line excerpt).
 */
function yamlProblem(err: unknown, text: string): string {
  const message = String((err as Error).message).split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '').replace(/:$/, '');
  const pos = (err as { linePos?: readonly { line: number; col: number }[] }).linePos?.[0];
  if (pos === undefined) return message;
  const line = text.split(/\r?\n/)[pos.line - 1];
  return `${message} at line ${pos.line}, column ${pos.col}${line === undefined || line.trim() === '' ? '' : ` (${JSON.stringify(line)})`}`;
}

/**
 * Merges the layers over the defaults and validates every value given anywhere, so a bad value
 * is reported even where a later layer overrides it. Throws ConfigError.
 */
export function resolveConfig(layers: readonly Layer[], strategyNames: readonly string[]): Config {
  const config: Record<string, unknown> = {};
  for (const setting of SETTINGS) {
    let value = setting.default;
    for (const layer of layers) {
      if (!layer.values.has(setting.key)) continue;
      value = parseValue(setting, layer.values.get(setting.key), layer.text, layer.label(setting));
      checkStrategy(setting, value, strategyNames, layer.label(setting));
    }
    setPath(config, setting.key, value);
  }
  const tls = config.tls as { cert?: readonly string[]; key?: readonly string[]; httpPort?: number; clientAuth: string; clientCa?: string };
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    const missing = SETTINGS_BY_KEY.get(tls.cert === undefined ? 'tls.cert' : 'tls.key')!;
    throw new ConfigError(`missing ${missing.env} (${missing.key}): expected TLS_CERT_FILE and TLS_KEY_FILE together`);
  }
  if (tls.cert !== undefined && tls.key !== undefined && tls.cert.length !== tls.key.length) {
    throw new ConfigError(`invalid TLS_KEY_FILE (tls.key) ${show(tls.key.join(','))}: expected one key per certificate of TLS_CERT_FILE (${tls.cert.length}), in the same order`);
  }
  if (tls.clientAuth !== 'off' && tls.clientCa === undefined) {
    throw new ConfigError(`invalid TLS_CLIENT_AUTH (tls.clientAuth) ${show(tls.clientAuth)} without TLS_CLIENT_CA_FILE: expected off, or TLS_CLIENT_CA_FILE naming the CA certificates client certificates are verified against`);
  }
  checkBackendPair(config.backendTls as { cert?: string; key?: string }, '');
  const edge = config.edge as { trustedProxies: readonly string[]; proxyProtocol: string };
  if (edge.proxyProtocol !== 'off' && edge.trustedProxies.length === 0) {
    throw new ConfigError(`invalid PROXY_PROTOCOL (edge.proxyProtocol) ${show(edge.proxyProtocol)} without TRUSTED_PROXIES: expected off, or TRUSTED_PROXIES naming the proxies that send the header (it is accepted from them alone)`);
  }
  const admin = config.admin as { port?: number; host: string; token?: string };
  if (admin.port !== undefined && admin.port !== 0 && admin.port === config.port) {
    throw new ConfigError(`invalid ADMIN_PORT (admin.port) ${admin.port}: expected a port other than PORT (the admin API is never on the traffic port)`);
  }
  if (admin.port !== undefined && admin.token === undefined && !isLoopback(admin.host)) {
    throw new ConfigError(`invalid ADMIN_HOST (admin.host) ${show(admin.host)} without ADMIN_TOKEN: expected a loopback address (127.0.0.1, ::1, localhost), or set ADMIN_TOKEN so that the admin API is not open to the network`);
  }
  const pools = resolvePools(config as unknown as Config, layers, strategyNames);
  for (const pool of pools) {
    const where = pool.name === DEFAULT_POOL ? '' : ` of pool ${show(pool.name)}`;
    checkProto(pool, where);
    checkHealthType(pool, where);
    if (pool.name !== DEFAULT_POOL) checkBackendPair(pool.backendTls, where);
    checkProxyProtocol(pool, where);
  }
  const routeSource = layers.findLast((l) => l.routes !== undefined);
  config.pools = pools;
  config.routes = routeSource === undefined ? [] : parseRoutes(routeSource.routes, new Set(pools.map((p) => p.name)), routeSource.where?.replace(/^ in /, '') || undefined);
  checkAcme(config as unknown as Config);
  if (config.strict === true) {
    const unreachable = RouteTable.compile(config.routes as RouteSpec[]).unreachable;
    if (unreachable.length > 0) throw new ConfigError(`${unreachable[0]} (STRICT_ENV is on: a route that can never match is an error)`);
  }
  return config as unknown as Config;
}

/** 127.0.0.0/8, ::1 and localhost. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || host === '::ffff:127.0.0.1';
}

function parseValue(setting: Setting, value: unknown, text: boolean, label: string): unknown {
  try {
    return setting.parse(value, text);
  } catch (err) {
    if (!(err instanceof InvalidValue)) throw err;
    const part = err.part !== undefined && err.part !== value ? ` (at ${show(redact(err.part))})` : '';
    // A secret's length is what is usually wrong with it, and says nothing of its content.
    const shown = setting.secret === true ? `${REDACTED_TEXT} (${typeof value === 'string' ? `${value.length} characters` : typeof value})` : show(redact(value));
    throw new ConfigError(`invalid ${label} ${shown}${part}: expected ${err.expected}`);
  }
}

function flatten(data: unknown, prefix: string, out: Map<string, unknown>, where: string, settings: readonly Setting[]): void {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    const what = prefix === '' ? 'the configuration' : `section ${prefix}`;
    throw new ConfigError(`invalid ${what}${where} ${show(data)}: expected an object of settings`);
  }
  for (const [name, value] of Object.entries(data)) {
    const key = prefix === '' ? name : `${prefix}.${name}`;
    if (value === undefined) continue;
    if (settings.some((s) => s.key === key)) {
      out.set(key, value);
    } else if (settings.some((s) => s.key.startsWith(`${key}.`))) {
      flatten(value, key, out, where, settings);
    } else {
      // Within a section: its own keys (`proxy.` holds proxy.timeout, not proxyProtocol).
      const siblings = settings.filter((s) => prefix === '' || s.key.startsWith(`${prefix}.`)).map((s) => s.key);
      const extra = prefix === '' && settings === SETTINGS ? ', pools, routes' : '';
      throw new ConfigError(`unknown setting ${show(key)}${where}: expected one of ${siblings.join(', ')}${extra}`);
    }
  }
}

/**
 * The pools of a configuration: `default` (BACKENDS and the top-level settings) unless pools
 * are configured and BACKENDS is not, then each of `pools:`, its settings over the global ones.
 */
function resolvePools(config: Config, layers: readonly Layer[], strategyNames: readonly string[]): PoolConfig[] {
  const source = layers.findLast((l) => l.pools !== undefined);
  const pools: PoolConfig[] = [];
  if (source === undefined || layers.some((l) => l.values.has('backends'))) pools.push(poolSettings(config, DEFAULT_POOL));
  if (source === undefined) return pools;
  const where = source.where ?? '';
  for (const [name, data] of poolEntries(source.pools, where)) {
    const values = new Map<string, unknown>();
    const label = (s: Setting): string => `${s.key} of pool ${show(name)}${where}`;
    flatten(poolTlsAsBackendTls(data), '', values, ` of pool ${show(name)}${where}`, POOL_SETTINGS);
    const pool = structuredClone(poolSettings(config, name)) as unknown as Record<string, unknown>;
    for (const [key, raw] of values) {
      const setting = SETTINGS_BY_KEY.get(key)!;
      const value = parseValue(setting, raw, false, label(setting));
      checkStrategy(setting, value, strategyNames, label(setting));
      setPath(pool, key, value);
    }
    pools.push(pool as unknown as PoolConfig);
  }
  return pools;
}

/** A pool's `tls: { cert, key, ca, servername, insecure }`: its BACKEND_* settings (backendTls.*) for its own backends. */
function poolTlsAsBackendTls(data: Record<string, unknown>): Record<string, unknown> {
  if (!('tls' in data)) return data;
  const { tls, ...rest } = data;
  return { ...rest, backendTls: tls };
}

/** BACKEND_CERT_FILE and BACKEND_KEY_FILE (a pool's tls.cert and tls.key) go together. */
function checkBackendPair(backendTls: { cert?: string | undefined; key?: string | undefined }, where: string): void {
  if ((backendTls.cert === undefined) === (backendTls.key === undefined)) return;
  const missing = SETTINGS_BY_KEY.get(backendTls.cert === undefined ? 'backendTls.cert' : 'backendTls.key')!;
  throw new ConfigError(`missing ${missing.env} (${where === '' ? missing.key : `tls.${missing.key.split('.')[1]}`})${where}: expected BACKEND_CERT_FILE and BACKEND_KEY_FILE (a pool's tls.cert and tls.key) together`);
}

/** A pool's `proto:` against its backends' schemes: h2c is for http:// ones, h2 for https:// ones. */
function checkProto(pool: PoolConfig, where: string): void {
  for (const entry of pool.backends) {
    try {
      if (isDnsBackend(entry)) {
        if (pool.proto === 'h2c' || pool.proto === 'h2') parseProto(pool.proto, entry.protocol, entry.text);
      } else {
        resolveProto(entry, pool.proto);
      }
    } catch (err) {
      if (err instanceof InvalidBackend) throw new ConfigError(`invalid BACKEND_PROTO (proto)${where} ${show(pool.proto)} for backend ${show(err.part)}: expected ${err.expected}`);
      throw err;
    }
  }
}

/**
 * A pool's gRPC health checks against its backends' protocols: gRPC needs HTTP/2, so each backend
 * must be spoken to with h2c or h2 (HTTP/1.1 backends would all be down).
 */
function checkHealthType(pool: PoolConfig, where: string): void {
  if (pool.health.type !== 'grpc') return;
  for (const entry of pool.backends) {
    const proto = isDnsBackend(entry) ? pool.proto : resolveProto(entry, pool.proto);
    if (proto === 'h2' || proto === 'h2c') continue;
    const backend = isDnsBackend(entry) ? entry.text : entry.url;
    throw new ConfigError(`invalid HEALTH_CHECK_TYPE (health.type)${where} "grpc" for backend ${show(backend)} spoken to over HTTP/1.1 (proto ${proto}): `
      + 'expected backends spoken to over HTTP/2 (proto h2c or h2, per pool or "|proto=h2c" per backend) for gRPC health checks, or health.type http');
  }
}

/**
 * A pool's `proxyProtocol:` against its backends' protocols: a PROXY header tells one client per
 * connection, and an HTTP/2 session carries many clients' streams at once, so the header is sent
 * to HTTP/1.1 backends only (an https:// backend on `auto` may choose h2 by ALPN: it must say http1).
 */
function checkProxyProtocol(pool: PoolConfig, where: string): void {
  if (pool.proxyProtocol === 'off') return;
  for (const entry of pool.backends) {
    const https = isDnsBackend(entry) ? entry.protocol === 'https:' : entry.origin.startsWith('https:');
    const proto = isDnsBackend(entry) ? pool.proto : resolveProto(entry, pool.proto);
    if (proto === 'http1' || (proto === 'auto' && !https)) continue;
    const backend = isDnsBackend(entry) ? entry.text : entry.url;
    throw new ConfigError(`invalid BACKEND_PROXY_PROTOCOL (proxyProtocol)${where} ${show(pool.proxyProtocol)} for backend ${show(backend)} spoken to with proto ${proto}: `
      + 'expected HTTP/1.1 backends (proto http1, or http:// backends on auto): one HTTP/2 connection carries many clients, a PROXY header tells one; or proxyProtocol off');
  }
}

/** A strategy's name against the registry (STRATEGY, HASH_FALLBACK, SHADOW_STRATEGIES). */
function checkStrategy(setting: Setting, value: unknown, strategyNames: readonly string[], label: string): void {
  const allowed = setting.key === 'strategy' ? strategyNames
    : setting.key === 'hash.fallback' ? strategyNames.filter((n) => n !== 'consistent-hash') : undefined;
  if (allowed !== undefined && !allowed.includes(value as string)) {
    throw new ConfigError(`invalid ${label} ${show(value)}: expected one of ${allowed.join(', ')}`);
  }
  const unknown = setting.key === 'shadowStrategies' ? (value as string[]).find((n) => !strategyNames.includes(n)) : undefined;
  if (unknown !== undefined) throw new ConfigError(`invalid ${label} ${show(unknown)}: expected strategy names among ${strategyNames.join(', ')}`);
}

function setPath(target: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) node = (node[part] ??= {}) as Record<string, unknown>;
  node[parts[parts.length - 1]!] = value;
}

const FILE_ERRORS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file', EACCES: 'permission denied', EPERM: 'permission denied', EISDIR: 'it is a directory', ENOTDIR: 'a part of the path is not a directory',
};

/** Reads a file that `what` is (`config file`, `.env file`), failing with what it should have been. */
function readFile(path: string, what: string, expected: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === undefined ? (err as Error).message : `${FILE_ERRORS[code] ?? 'cannot be read'} (${code})`;
    throw new ConfigError(`cannot read ${what} ${path}${resolve(path) === path ? '' : ` (${resolve(path)})`}: ${why}; expected ${expected}`);
  }
}
