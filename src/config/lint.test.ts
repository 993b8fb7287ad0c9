import { test } from 'node:test';
import assert from 'node:assert/strict';
import { editDistance, ineffectiveSettings, misspelledEnv } from './lint.js';
import { envLayer, resolveConfig } from './load.js';

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
