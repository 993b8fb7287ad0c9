import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backend } from './backend.js';
import { InvalidBackend, parseBackendEntry, parseBackendText } from './backend-spec.js';
import { Pool } from './pool.js';

test('a backend entry may name its protocol: |proto= in text, proto in an object; none leaves it to the pool', () => {
  assert.equal(parseBackendText('http://127.0.0.1:1|proto=h2c').proto, 'h2c');
  assert.equal(parseBackendText('https://127.0.0.1:1|proto=H2|id=a').proto, 'h2');
  assert.equal(parseBackendEntry({ url: 'http://127.0.0.1:1', proto: 'http1' }).proto, 'http1');
  assert.equal(parseBackendText('http://127.0.0.1:1').proto, undefined);
});

test('h2c is for http:// backends and h2 for https:// ones; an unknown protocol is refused with the choices', () => {
  assert.throws(() => parseBackendText('https://127.0.0.1:1|proto=h2c'), (err: InvalidBackend) => err instanceof InvalidBackend && /h2c.*http:\/\//.test(err.message));
  assert.throws(() => parseBackendText('http://127.0.0.1:1|proto=h2'), (err: InvalidBackend) => /h2 \(HTTP\/2 over TLS\) with an https:\/\//.test(err.message));
  assert.throws(() => parseBackendText('http://127.0.0.1:1|proto=h3'), (err: InvalidBackend) => /auto, http1, h2 .* or h2c/.test(err.message));
});

test('a Backend carries its resolved protocol: its own, else the pool\'s; auto on http:// is http1', () => {
  assert.equal(new Backend(parseBackendText('http://127.0.0.1:1')).proto, 'http1');
  assert.equal(new Backend(parseBackendText('https://127.0.0.1:1')).proto, 'auto');
  assert.equal(new Backend(parseBackendText('http://127.0.0.1:1'), 0, 'h2c').proto, 'h2c');
  assert.equal(new Backend(parseBackendText('http://127.0.0.1:1|proto=http1'), 0, 'h2c').proto, 'http1');
  assert.throws(() => new Backend(parseBackendText('https://127.0.0.1:1'), 0, 'h2c'), InvalidBackend);
  const pool = new Pool(['http://127.0.0.1:1|id=a', 'http://127.0.0.1:2|id=b|proto=http1'], { proto: 'h2c' });
  assert.deepEqual(pool.backends.map((b) => b.proto), ['h2c', 'http1']);
  assert.equal(pool.add({ url: 'http://127.0.0.1:3', proto: 'http1' }).proto, 'http1', 'the API\'s object form keeps it');
});
