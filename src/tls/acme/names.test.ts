import { test } from 'node:test';
import assert from 'node:assert/strict';
import { envLayer, objectLayer, resolveConfig } from '../../config/index.js';
import { acmeChallenge, acmeNames } from './names.js';

const STRATEGIES = ['round-robin'];
const resolve = (env: Record<string, string>, file?: unknown) => resolveConfig([...(file === undefined ? [] : [objectLayer(file, 'lb.yaml')]), envLayer({ BACKENDS: 'http://127.0.0.1:1', ...env })], STRATEGIES);

test('ACME settings are validated with the setting and value named', () => {
  assert.throws(() => resolve({ ACME_DOMAINS: '*.example.com', ACME_STORAGE: '/tmp/x' }), /invalid ACME_DOMAINS "\*\.example\.com": expected .*no wildcards/);
  assert.throws(() => resolve({ ACME_DOMAINS: 'example.com' }), /missing ACME_STORAGE \(acme\.storage\)/);
  assert.throws(() => resolve({ ACME_DOMAINS: 'example.com', ACME_STORAGE: '/tmp/x', ACME_CHALLENGE: 'http-01' }), /invalid ACME_CHALLENGE \(acme\.challenge\) "http-01" without HTTP_PORT/);
  assert.throws(() => resolve({ ACME_EMAIL: 'nobody' }), /invalid ACME_EMAIL "nobody": expected an e-mail address/);
  assert.throws(() => resolve({ ACME_DIRECTORY: 'http://acme.test/dir' }), /invalid ACME_DIRECTORY "http:\/\/acme\.test\/dir": expected an https:\/\/ URL/);
  assert.throws(() => resolve({ ACME_DOMAINS: 'routes', ACME_STORAGE: '/tmp/x' }), /invalid ACME_DOMAINS \(acme\.domains\) "routes": expected routes with exact hostnames/);
});

test('ACME_DOMAINS=routes takes every exact hostname of the routes; auto picks http-01 with HTTP_PORT', () => {
  const config = resolve({ ACME_DOMAINS: 'routes', ACME_STORAGE: '/tmp/x' }, {
    routes: [
      { name: 'a', hostnames: ['api.example.com', '*.example.com'], backendRefs: [{ name: 'default' }] },
      { name: 'b', hostnames: ['www.example.com', 'api.example.com'], backendRefs: [{ name: 'default' }] },
    ],
  });
  assert.deepEqual(acmeNames(config), ['api.example.com', 'www.example.com']);
  assert.equal(acmeChallenge(config), 'tls-alpn-01');
  assert.equal(acmeChallenge(resolve({ ACME_DOMAINS: 'Example.com', ACME_STORAGE: '/tmp/x', HTTP_PORT: '80' })), 'http-01');
  assert.deepEqual(acmeNames(resolve({ ACME_DOMAINS: 'Example.com, www.example.com', ACME_STORAGE: '/tmp/x' })), ['example.com', 'www.example.com']);
});
