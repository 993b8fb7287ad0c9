import { weightsIgnored } from '../balancer/strategy.js';
import { isDnsBackend } from '../pool/index.js';
import type { Layer } from './load.js';
import { acmeChallenge, acmeOn } from '../tls/acme/names.js';
import { DEFAULT_BACKENDS, SETTINGS, type Config } from './settings.js';

/** Beginnings of our settings' names: a variable starting so is meant for the balancer. */
const PREFIXES = ['DNS_', 'SHADOW', 'HEALTH', 'PROXY', 'BACKEND', 'HTTP_', 'TLS_', 'ADMIN', 'LOG_', 'STICKY', 'HASH_', 'RETR', 'OUTLIER', 'QUEUE', 'CLIENT_', 'SHUTDOWN', 'STRATEG', 'TUNNEL', 'SLOW_', 'MAX_', 'CONNECT_', 'WORKER', 'STATE_', 'ACME_'];

/**
 * Variables of other programs that may look like ours (`SSL_CERT_FILE` is one edit from
 * `TLS_CERT_FILE`): never reported, so that STRICT_ENV can stay on in any ordinary environment.
 * Compared in upper case.
 */
const OTHERS = new Set([
  // OpenSSL, and the curl/Go/Python tools that read its variables.
  'SSL_CERT_FILE', 'SSL_CERT_DIR', 'SSLKEYLOGFILE', 'CURL_CA_BUNDLE', 'REQUESTS_CA_BUNDLE',
  // Proxies, in either case (curl and Go read both).
  'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'ALL_PROXY', 'FTP_PROXY', 'PROXY', 'HTTP_PROXY_REQUEST_FULLURI', 'LOG_LEVEL_NODE',
  // Locale and terminal.
  'LANG', 'LANGUAGE', 'TZ', 'TERM', 'COLORTERM', 'NO_COLOR', 'FORCE_COLOR',
  // Continuous integration.
  'CI', 'CONTINUOUS_INTEGRATION', 'BUILD_NUMBER', 'BUILD_ID', 'BUILD_URL', 'JOB_NAME', 'JENKINS_URL', 'HUDSON_URL',
  'TRAVIS', 'CIRCLECI', 'APPVEYOR', 'DRONE', 'TEAMCITY_VERSION', 'TF_BUILD',
]);

/** Prefixes of other programs' variable families, compared in upper case: Node's, npm's, OpenTelemetry's, locale, CI systems'. */
const OTHER_PREFIXES = ['NODE_', 'NPM_', 'OTEL_', 'LC_', 'GITHUB_', 'RUNNER_', 'GITLAB_', 'CI_', 'BUILDKITE', 'CIRCLE_', 'TRAVIS_', 'DRONE_', 'BITBUCKET_', 'JENKINS_', 'TEAMCITY_', 'SYSTEM_', 'AGENT_', 'BUILD_', 'CODEBUILD_', 'VERCEL_', 'NETLIFY', 'KUBERNETES_', 'LB_'];

/** True for a variable that belongs to another program (see OTHERS and OTHER_PREFIXES). */
export function isOthersVariable(name: string): boolean {
  const upper = name.toUpperCase();
  return OTHERS.has(upper) || OTHER_PREFIXES.some((p) => upper.startsWith(p));
}

/** A variable that is not a setting but looks like one, with the setting it is probably meant to be. */
export interface Misspelling {
  readonly name: string;
  readonly source: string;
  readonly suggestion: string;
}

/**
 * Names in the environment (or `.env`) that are not settings but are close to one (an edit
 * distance of 1 for names of 5 to 8 characters, 2 up to 12, 3 beyond) or start like ours
 * (`HEALTH…`, `PROXY…`): a typo
 * that would otherwise leave a default in place without a word.
 */
export function misspelledEnv(env: Readonly<Record<string, string | undefined>>, source = 'environment'): Misspelling[] {
  const known = new Set(SETTINGS.map((s) => s.env));
  const found: Misspelling[] = [];
  for (const name of Object.keys(env)) {
    if (known.has(name) || isOthersVariable(name)) continue;
    const upper = name.toUpperCase();
    const allowed = name.length > 12 ? 3 : name.length > 8 ? 2 : name.length > 4 ? 1 : 0;
    const prefixed = PREFIXES.some((p) => upper.startsWith(p));
    // A name that can be neither close nor prefixed is not compared at all, and a distance is at
    // least the difference in length: a whole environment is checked at start-up (npm alone sets
    // dozens of variables), so only a prefixed name is compared with every setting.
    if (allowed === 0 && !prefixed) continue;
    let best = '';
    let distance = Infinity;
    for (const setting of known) {
      if (!prefixed && Math.abs(setting.length - upper.length) > allowed) continue;
      const d = editDistance(upper, setting);
      if (d < distance) { distance = d; best = setting; }
    }
    if (distance <= allowed || prefixed) found.push({ name, source, suggestion: best });
  }
  return found;
}

/** Levenshtein distance, for short names. */
export function editDistance(a: string, b: string): number {
  let prev = new Uint16Array(b.length + 1);
  let row = new Uint16Array(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    row[0] = i;
    const ca = a.charCodeAt(i - 1);
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (ca === b.charCodeAt(j - 1) ? 0 : 1));
    }
    [prev, row] = [row, prev];
  }
  return prev[b.length]!;
}

/**
 * Settings that were given but do nothing in this combination, and defaults worth a word: each
 * a sentence for a warning at start-up.
 */
export function ineffectiveSettings(config: Config, layers: readonly Layer[]): string[] {
  const given = (key: string): boolean => layers.some((l) => l.values.has(key));
  const warnings: string[] = [];
  // Names only the settings of the group that were given: HASH_KEY alone is warned about alone.
  const idle = (keys: readonly string[], why: string): void => {
    const names = SETTINGS.filter((s) => keys.includes(s.key) && given(s.key)).map((s) => s.env);
    if (names.length > 0) warnings.push(`${list(names)} ${names.length === 1 ? 'does' : 'do'} nothing ${why}`);
  };
  const tls = config.tls.cert !== undefined || acmeOn(config);
  if (!layers.some((l) => l.values.has('backends') || l.pools !== undefined)) {
    warnings.push(`no backend is configured (BACKENDS, backends: in a config file, --backends): using the origin's defaults ${DEFAULT_BACKENDS}`);
  }
  const hasDefault = config.pools.some((p) => p.name === 'default');
  if (!hasDefault && config.routes.length === 0) warnings.push('pools are configured without routes and without BACKENDS: every request gets 404 (add routes:, or BACKENDS for a default pool)');
  for (const pool of config.pools) {
    if (pool.name !== 'default' && !config.routes.some((r) => r.backendRefs.some((b) => b.name === pool.name && b.weight > 0)
      || r.filters.some((f) => f.type === 'RequestMirror' && f.requestMirror.backendRef.name === pool.name))) {
      warnings.push(`pool "${pool.name}" is not used by any route: it is health-checked but gets no traffic`);
    }
  }
  if (given('tls.httpPort') && !tls) warnings.push('HTTP_PORT does nothing without TLS_CERT_FILE and TLS_KEY_FILE (PORT is plain HTTP already)');
  if (given('tls.redirect') && config.tls.httpPort === undefined) warnings.push('HTTP_REDIRECT does nothing without HTTP_PORT');
  if (!tls) idle(['tls.clientCa', 'tls.clientAuth', 'tls.minVersion', 'tls.ciphers', 'tls.ecdhCurves'], 'without TLS_CERT_FILE and TLS_KEY_FILE (PORT is plain HTTP)');
  if (tls && config.tls.clientAuth === 'require' && config.tls.httpPort !== undefined && !config.tls.redirect) {
    warnings.push('HTTP_PORT proxies plain HTTP, where no client certificate is asked for, beside TLS_CLIENT_AUTH=require: set HTTP_REDIRECT=true to send those clients to HTTPS');
  }
  if (acmeOn(config) && acmeChallenge(config) === 'tls-alpn-01' && config.tls.clientAuth === 'require') {
    warnings.push('ACME\'s TLS-ALPN-01 validator shows no client certificate, and TLS_CLIENT_AUTH=require refuses its handshake: use ACME_CHALLENGE=http-01 with HTTP_PORT');
  }
  if (given('sticky.secret') && config.sticky.cookie === undefined) warnings.push('STICKY_SECRET does nothing without STICKY_COOKIE');
  if (!acmeOn(config)) idle(['acme.email', 'acme.directory', 'acme.storage', 'acme.caFile', 'acme.challenge', 'acme.renewCheck', 'acme.lockStale'], 'without ACME_DOMAINS');
  if (given('workerListen') && config.workers === 0) warnings.push('WORKER_LISTEN does nothing without WORKERS (one process listens by itself)');
  if (config.health.timeout > config.health.interval) {
    warnings.push(`HEALTH_CHECK_TIMEOUT (${config.health.timeout} ms) is longer than HEALTH_CHECK_INTERVAL (${config.health.interval} ms): a check may still run when the next is due`);
  }
  if (config.rateLimit.rate === undefined) idle(['rateLimit.burst', 'rateLimit.key', 'rateLimit.mode', 'rateLimit.tableSize'], 'without RATE_LIMIT (a route\'s RateLimit filter has its own settings)');
  if (config.strategy !== 'consistent-hash') idle(['hash.key', 'hash.loadFactor', 'hash.fallback'], `with STRATEGY=${config.strategy} (only with consistent-hash)`);
  const blind = config.strategyModule === undefined ? weightsIgnored(config.strategy) : undefined;
  const weighted = config.backends.filter((b) => b.weight !== 1).map((b) => (isDnsBackend(b) ? b.text : b.url));
  if (blind !== undefined && weighted.length > 0) warnings.push(`${blind} (weighted: ${weighted.join(', ')})`);
  const https = [...config.backends, ...config.pools.flatMap((p) => p.backends)].some((b) => (isDnsBackend(b) ? b.protocol === 'https:' : b.url.startsWith('https:')));
  if (!https) idle(['backendTls.ca', 'backendTls.servername', 'backendTls.insecure'], 'without an https:// backend');
  if (!config.backends.some(isDnsBackend)) idle(['dns.refresh', 'dns.servers'], 'without a dns+http:// (or dns+srv+http://) backend');
  if (config.backends.some((b) => isDnsBackend(b) && b.protocol === 'https:') && config.backendTls.servername === undefined) {
    warnings.push('dns+https:// backends are reached by address: set BACKEND_SERVERNAME to the name their certificates carry, or verification fails');
  }
  if (config.backend.maxRequests === 0) idle(['queue.size', 'queue.timeout'], 'without BACKEND_MAX_REQUESTS (requests wait only for a full backend)');
  if (config.admin.port === undefined) idle(['admin.host', 'admin.token'], 'without ADMIN_PORT');
  if (config.admin.port === undefined) idle(['admin.traceUrl'], 'without ADMIN_PORT (the dashboard links errors to traces)');
  if (!config.log.access) idle(['log.accessFormat', 'log.accessSample'], 'with ACCESS_LOG=off');
  if (config.admin.port === undefined && given('stateFile')) warnings.push('STATE_FILE keeps changes made through the admin API, which is off without ADMIN_PORT');
  if (config.retry.retries === 0) idle(['retry.onStatus', 'retry.budget'], 'with RETRIES=0');
  if (config.outlier.consecutiveFailures === 0) idle(['outlier.ejectionTime', 'outlier.maxEjected'], 'with OUTLIER_CONSECUTIVE_FAILURES=0');
  idleHealthSettings(config, layers, idle, warnings);
  return warnings;
}

/**
 * Health settings that do nothing for the kind of check a pool runs: a path or a warn weight for
 * gRPC checks (the Check RPC has a fixed path and no warn state), a service for HTTP ones. The
 * top-level ones are idle when no pool uses them (pools inherit them); a pool's own when given in it.
 */
function idleHealthSettings(config: Config, layers: readonly Layer[], idle: (keys: readonly string[], why: string) => void, warnings: string[]): void {
  if (config.pools.length > 0 && config.pools.every((p) => p.health.type === 'grpc')) {
    idle(['health.path', 'health.warnWeight'], 'with gRPC health checks (HEALTH_CHECK_TYPE=grpc calls grpc.health.v1.Health/Check: no path, no warn state)');
  }
  if (config.pools.every((p) => p.health.type !== 'grpc')) idle(['health.service'], 'without HEALTH_CHECK_TYPE=grpc');
  const raw = layers.findLast((l) => l.pools !== undefined)?.pools as Record<string, { health?: Record<string, unknown> }> | undefined;
  for (const pool of config.pools) {
    const given = raw?.[pool.name]?.health;
    if (given === undefined || given === null || typeof given !== 'object') continue;
    const keys = pool.health.type === 'grpc' ? ['path', 'warnWeight'].filter((k) => k in given) : 'service' in given ? ['service'] : [];
    if (keys.length > 0) {
      warnings.push(`${list(keys.map((k) => `health.${k}`))} of pool "${pool.name}" ${keys.length === 1 ? 'does' : 'do'} nothing with health.type ${pool.health.type}`
        + (pool.health.type === 'grpc' ? ' (the grpc.health.v1.Health/Check RPC has no path and no warn state)' : ' (only gRPC checks ask about a service)'));
    }
  }
}

/** `A`, `A and B`, `A, B and C`. */
function list(names: readonly string[]): string {
  return names.length < 2 ? names.join('') : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}
