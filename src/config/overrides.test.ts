import { test } from 'node:test';
import assert from 'node:assert/strict';
import { envLayer, flagLayer, objectLayer } from './load.js';
import { environmentOverrides } from './overrides.js';

test('a value the environment overrides in a config file is named with both values; equal values, flags and unset keys are not', () => {
  const file = objectLayer({ port: 7500, host: '0.0.0.0', admin: { port: 7590 }, proxy: { timeout: '10s' } }, 'portcfg.yaml');
  const env = envLayer({ PORT: '7501', ADMIN_PORT: '7591', HOST: '0.0.0.0', PROXY_TIMEOUT: '10000ms', BACKENDS: 'http://127.0.0.1:1' });
  assert.deepEqual(environmentOverrides([file, env, flagLayer({ 'shutdown-timeout': '5s' })]), [
    'PORT=7501 in the environment overrides port: 7500 in portcfg.yaml (the environment wins over a config file)',
    'ADMIN_PORT=7591 in the environment overrides admin.port: 7590 in portcfg.yaml (the environment wins over a config file)',
  ]);
  assert.deepEqual(environmentOverrides([file, envLayer({ PORT: '7501' }, '.env')]), [
    'PORT=7501 in .env overrides port: 7500 in portcfg.yaml (the environment wins over a config file)',
  ]);
  assert.deepEqual(environmentOverrides([file, flagLayer({ port: '7502' })]), [], 'a flag is asked for on the command line');
  assert.deepEqual(environmentOverrides([envLayer({ PORT: '7501' })]), [], 'no file');
});
