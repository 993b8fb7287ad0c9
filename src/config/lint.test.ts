import { test } from 'node:test';
import assert from 'node:assert/strict';
import { editDistance, ineffectiveSettings, misspelledEnv } from './lint.js';
import { envLayer, objectLayer, resolveConfig } from './load.js';

test('misspelt settings in the environment are found, with the setting they are meant to be; other programs\' variables are not', () => {
  const found = misspelledEnv({
    PROXY_TIMOUT: '1s', HEALTHCHECK_PATH: '/h', BACKEND: 'http://x', HEALTH_PATH: '/x', LOG_LEVL: 'debug',
    HOME: '/root', PATH: '/bin', HOSTNAME: 'x', USER: 'root', TERM: 'xterm', HTTP_PROXY: 'http://p', NO_PROXY: '*', NODE_ENV: 'production',
    PORT: '80', BACKENDS: 'http://a',
  });
  assert.deepEqual(found.map((m) => [m.name, m.suggestion]), [
    ['PROXY_TIMOUT', 'PROXY_TIMEOUT'], ['HEALTHCHECK_PATH', 'HEALTH_CHECK_PATH'], ['BACKEND', 'BACKENDS'], ['HEALTH_PATH', 'HEALTH_CHECK_PATH'], ['LOG_LEVL', 'LOG_LEVEL'],
  ]);
  assert.equal(editDistance('kitten', 'sitting'), 3);
});

test('settings that do nothing in this combination are named', () => {
  const layer = envLayer({ HTTP_PORT: '8081', STICKY_SECRET: 'a-secret-of-16-chars', HEALTH_CHECK_TIMEOUT: '1m', HEALTH_CHECK_INTERVAL: '10s', HASH_KEY: 'path', QUEUE_SIZE: '5' });
  const config = resolveConfig([layer], ['round-robin', 'consistent-hash']);
  const warnings = ineffectiveSettings(config, [layer]);
  for (const pattern of [/no backend is configured.*localhost:8081/, /HTTP_PORT does nothing without TLS/, /STICKY_SECRET does nothing without STICKY_COOKIE/,
    /HEALTH_CHECK_TIMEOUT .* longer than HEALTH_CHECK_INTERVAL/, /HASH_KEY.*STRATEGY=round-robin/, /QUEUE_SIZE .*BACKEND_MAX_REQUESTS/]) {
    assert.ok(warnings.some((w) => pattern.test(w)), `${pattern} in ${JSON.stringify(warnings)}`);
  }
  assert.ok(warnings.includes('HASH_KEY does nothing with STRATEGY=round-robin (only with consistent-hash)'), 'only the HASH_* setting given is named');
  const quiet = envLayer({ BACKENDS: 'http://127.0.0.1:1' });
  assert.deepEqual(ineffectiveSettings(resolveConfig([quiet], ['round-robin']), [quiet]), []);
});

test('health settings a pool\'s kind of check does not use are named: a path for gRPC checks, a service for HTTP ones; inherited ones only when no pool uses them', () => {
  const grpcOnly = envLayer({ BACKENDS: 'http://127.0.0.1:1|proto=h2c', HEALTH_CHECK_TYPE: 'grpc', HEALTH_CHECK_PATH: '/health', HEALTH_WARN_WEIGHT: '20%' });
  assert.deepEqual(ineffectiveSettings(resolveConfig([grpcOnly], ['round-robin']), [grpcOnly]),
    ['HEALTH_CHECK_PATH and HEALTH_WARN_WEIGHT do nothing with gRPC health checks (HEALTH_CHECK_TYPE=grpc calls grpc.health.v1.Health/Check: no path, no warn state)']);
  const httpOnly = envLayer({ BACKENDS: 'http://127.0.0.1:1', HEALTH_CHECK_GRPC_SERVICE: 'my.Service' });
  assert.deepEqual(ineffectiveSettings(resolveConfig([httpOnly], ['round-robin']), [httpOnly]), ['HEALTH_CHECK_GRPC_SERVICE does nothing without HEALTH_CHECK_TYPE=grpc']);
  // The global path serves the default pool's HTTP checks: not idle; the gRPC pool's own path is.
  const file = objectLayer({
    pools: {
      grpc: { proto: 'h2c', backends: ['http://127.0.0.1:2'], health: { type: 'grpc', service: 'my.Service', path: '/h' } },
      web: { backends: ['http://127.0.0.1:3'], health: { service: 'x' } },
    },
  }, 'lb.yaml');
  const mixed = envLayer({ BACKENDS: 'http://127.0.0.1:1', HEALTH_CHECK_PATH: '/health' });
  const warnings = ineffectiveSettings(resolveConfig([file, mixed], ['round-robin']), [file, mixed]).filter((w) => w.includes('does nothing'));
  assert.deepEqual(warnings, [
    'health.path of pool "grpc" does nothing with health.type grpc (the grpc.health.v1.Health/Check RPC has no path and no warn state)',
    'health.service of pool "web" does nothing with health.type http (only gRPC checks ask about a service)',
  ]);
});

test('well-known variables of other programs are never reported, whatever their case', () => {
  const env = {
    SSL_CERT_FILE: '/etc/ssl/certs/ca-certificates.crt', SSL_CERT_DIR: '/etc/ssl/certs', NODE_OPTIONS: '--enable-source-maps', NODE_EXTRA_CA_CERTS: '/ca.pem',
    npm_config_cache: '/tmp/npm', npm_lifecycle_event: 'start', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_SERVICE_NAME: 'lb',
    http_proxy: 'http://p', https_proxy: 'http://p', no_proxy: 'localhost', HTTPS_PROXY: 'http://p', ALL_PROXY: 'socks5://p',
    LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', LC_CTYPE: 'C', CI: 'true', GITHUB_ACTIONS: 'true', GITLAB_CI: 'true', BUILDKITE: 'true', RUNNER_OS: 'Linux',
  };
  assert.deepEqual(misspelledEnv(env), []);
  // A real typo among them is still found.
  assert.deepEqual(misspelledEnv({ ...env, TLS_CERT_FIEL: '/c.pem' }).map((m) => [m.name, m.suggestion]), [['TLS_CERT_FIEL', 'TLS_CERT_FILE']]);
});

test('RATE_LIMIT_* settings without RATE_LIMIT are named; with it, they are not', () => {
  const idle = envLayer({ BACKENDS: 'http://127.0.0.1:1', RATE_LIMIT_BURST: '5', RATE_LIMIT_MODE: 'shadow' });
  assert.deepEqual(ineffectiveSettings(resolveConfig([idle], ['round-robin']), [idle]),
    ['RATE_LIMIT_BURST and RATE_LIMIT_MODE do nothing without RATE_LIMIT (a route\'s RateLimit filter has its own settings)']);
  const on = envLayer({ BACKENDS: 'http://127.0.0.1:1', RATE_LIMIT: '10/s', RATE_LIMIT_BURST: '5', RATE_LIMIT_KEY: 'header:X-Key' });
  const config = resolveConfig([on], ['round-robin']);
  assert.deepEqual(ineffectiveSettings(config, [on]), []);
  assert.deepEqual(config.rateLimit, { rate: { count: 10, period: 1000, text: '10/s' }, burst: 5, key: 'header:x-key', mode: 'enforce', tableSize: 100_000 });
});

test('TLS settings without TLS do nothing; a plain HTTP_PORT beside TLS_CLIENT_AUTH=require is a way around it', () => {
  const plain = envLayer({ BACKENDS: 'http://127.0.0.1:1', TLS_MIN_VERSION: 'TLSv1.3', TLS_CLIENT_AUTH: 'optional', TLS_CLIENT_CA_FILE: '/ca.pem' });
  assert.ok(ineffectiveSettings(resolveConfig([plain], ['round-robin']), [plain])
    .includes('TLS_CLIENT_CA_FILE, TLS_CLIENT_AUTH and TLS_MIN_VERSION do nothing without TLS_CERT_FILE and TLS_KEY_FILE (PORT is plain HTTP)'));
  const open = envLayer({ BACKENDS: 'http://127.0.0.1:1', TLS_CERT_FILE: '/c.pem', TLS_KEY_FILE: '/k.pem', TLS_CLIENT_AUTH: 'require', TLS_CLIENT_CA_FILE: '/ca.pem', HTTP_PORT: '8081' });
  assert.ok(ineffectiveSettings(resolveConfig([open], ['round-robin']), [open]).some((w) => /HTTP_PORT proxies plain HTTP.*TLS_CLIENT_AUTH=require/.test(w)));
  // Client certificates apply to ACME's certificates too: a TLS-ALPN-01 validator has none.
  const acme = { BACKENDS: 'http://127.0.0.1:1', ACME_DOMAINS: 'a.example', ACME_STORAGE: '/acme', TLS_CLIENT_AUTH: 'require', TLS_CLIENT_CA_FILE: '/ca.pem' };
  const alpn = envLayer(acme);
  assert.ok(ineffectiveSettings(resolveConfig([alpn], ['round-robin']), [alpn]).some((w) => /TLS-ALPN-01.*TLS_CLIENT_AUTH=require/.test(w)));
  const http01 = envLayer({ ...acme, HTTP_PORT: '8081', HTTP_REDIRECT: 'true' });
  assert.ok(!ineffectiveSettings(resolveConfig([http01], ['round-robin']), [http01]).some((w) => /TLS-ALPN-01/.test(w)));
});
