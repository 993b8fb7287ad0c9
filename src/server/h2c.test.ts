import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openingOf, PREFACE } from './h2c.js';

test('openingOf: the whole preface is h2, any prefix of it waits for more, anything else is HTTP/1.x', () => {
  const of = (s: string): string => openingOf(Buffer.from(s, 'latin1'));
  assert.equal(openingOf(PREFACE), 'h2');
  assert.equal(of(`${PREFACE.toString('latin1')}\x00\x00\x12\x04`), 'h2', 'frames after the preface');
  for (let n = 1; n < PREFACE.length; n++) assert.equal(openingOf(PREFACE.subarray(0, n)), 'more', `${n} bytes`);
  for (const opening of ['GET / HTTP/1.1\r\n', 'POST /', 'PUT /', 'PATCH /', 'PRI * HTTP/1.1\r\n', 'PRI * HTTP/2.0\r\n\r\nXX', '\x16\x03\x01']) {
    assert.equal(of(opening), 'http1', JSON.stringify(opening));
  }
  assert.equal(of(''), 'http1');
});
