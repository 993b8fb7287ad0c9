import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from './errors.js';
import { envLayer, objectLayer, resolveConfig } from './load.js';

test('proto: per pool in a config file, BACKEND_PROTO for the default pool; entries keep their own', () => {
  const config = resolveConfig([objectLayer({
    pools: { grpc: { proto: 'h2c', backends: ['http://127.0.0.1:1', { url: 'http://127.0.0.1:2', proto: 'http1' }] } },
  }, 'lb.yaml')], ['round-robin']);
  const grpc = config.pools.find((p) => p.name === 'grpc')!;
  assert.equal(grpc.proto, 'h2c');
  assert.deepEqual(grpc.backends.map((b) => ('proto' in b ? b.proto : undefined)), [undefined, 'http1']);
  assert.equal(resolveConfig([envLayer({ BACKENDS: 'https://127.0.0.1:1', BACKEND_PROTO: 'h2' })], ['round-robin']).proto, 'h2');
});

test('a pool\'s proto that does not fit a backend\'s scheme is a configuration error naming both', () => {
  assert.throws(() => resolveConfig([envLayer({ BACKENDS: 'https://127.0.0.1:1', BACKEND_PROTO: 'h2c' })], ['round-robin']),
    (err: Error) => err instanceof ConfigError && /BACKEND_PROTO \(proto\) "h2c" for backend "https:\/\/127.0.0.1:1".*http:\/\//.test(err.message));
  assert.throws(() => resolveConfig([objectLayer({ pools: { api: { proto: 'h2', backends: ['http://127.0.0.1:1'] } } }, 'lb.yaml')], ['round-robin']),
    (err: Error) => err instanceof ConfigError && /of pool "api"/.test(err.message));
  assert.throws(() => resolveConfig([envLayer({ BACKEND_PROTO: 'spdy' })], ['round-robin']), /BACKEND_PROTO.*one of auto, http1, h2, h2c/);
});
