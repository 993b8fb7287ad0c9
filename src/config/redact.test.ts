import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redact, redactConfig, REDACTED } from './redact.js';
import { envLayer, resolveConfig } from './load.js';
import { SETTINGS, SETTINGS_BY_KEY } from './settings.js';

test('the secret settings are marked once in the table: ADMIN_TOKEN, STICKY_SECRET and OTEL_EXPORTER_OTLP_HEADERS', () => {
  assert.deepEqual(SETTINGS.filter((s) => s.secret === true).map((s) => s.env), ['STICKY_SECRET', 'ADMIN_TOKEN', 'OTEL_EXPORTER_OTLP_HEADERS']);
});

test('redact hides secret settings and URL passwords, and leaves everything else alone', () => {
  assert.equal(redact('short', SETTINGS_BY_KEY.get('admin.token')), REDACTED);
  assert.equal(redact(undefined, SETTINGS_BY_KEY.get('admin.token')), undefined);
  assert.equal(redact('http://user:pw@10.0.0.1:80/x|weight=2'), `http://user:${REDACTED}@10.0.0.1:80/x|weight=2`);
  assert.equal(redact('http://a:1,https://u:p@b:2'), `http://a:1,https://u:${REDACTED}@b:2`);
  assert.deepEqual(redact({ urls: ['http://u:p@h'], n: 1 }), { urls: [`http://u:${REDACTED}@h`], n: 1 });
  assert.equal(redact('http://user@10.0.0.1'), 'http://user@10.0.0.1', 'a user name alone is no secret');
  assert.equal(redact('10s', SETTINGS_BY_KEY.get('proxy.timeout')), '10s');
});

test('redactConfig replaces set secrets in a copy', () => {
  const config = resolveConfig([envLayer({ BACKENDS: 'http://127.0.0.1:1', ADMIN_TOKEN: 'a-token-of-16-chars', STICKY_COOKIE: 'lb', STICKY_SECRET: 'a-secret-of-16-chars' })], ['round-robin']);
  const shown = redactConfig(config) as any;
  assert.equal(shown.admin.token, REDACTED);
  assert.equal(shown.sticky.secret, REDACTED);
  assert.equal(config.admin.token, 'a-token-of-16-chars', 'the config itself is untouched');
  assert.equal(shown.port, config.port);
});
