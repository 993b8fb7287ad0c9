import { test } from 'node:test';
import assert from 'node:assert/strict';
import { negotiate, type Encoding } from './negotiate.js';
import { CompressionPolicy, compressedHeaders, DEFAULT_LEVELS, DEFAULT_TYPES, VARY_ONLY } from './policy.js';

const BR_GZIP: Encoding[] = ['br', 'gzip'];

test('Accept-Encoding: the highest q-value wins, ties go to the server\'s order', () => {
  assert.equal(negotiate('gzip, deflate, br', BR_GZIP), 'br');
  assert.equal(negotiate('gzip, deflate, br', ['gzip', 'br']), 'gzip');
  assert.equal(negotiate('br;q=0.5, gzip;q=0.8', BR_GZIP), 'gzip');
  assert.equal(negotiate('br;q=1.0, gzip;q=0.999', BR_GZIP), 'br');
  assert.equal(negotiate('GZIP', BR_GZIP), 'gzip');
  assert.equal(negotiate('x-gzip', BR_GZIP), 'gzip');
});

test('Accept-Encoding: q=0 excludes, * stands for what is not named, identity may be preferred', () => {
  assert.equal(negotiate('br;q=0, gzip', BR_GZIP), 'gzip');
  assert.equal(negotiate('br;q=0, gzip;q=0', BR_GZIP), undefined);
  assert.equal(negotiate('*', BR_GZIP), 'br');
  assert.equal(negotiate('br;q=0, *', BR_GZIP), 'gzip');
  assert.equal(negotiate('*;q=0', BR_GZIP), undefined);
  assert.equal(negotiate('gzip;q=0.5, identity', BR_GZIP), undefined);
  assert.equal(negotiate('gzip;q=0.5, identity;q=0', BR_GZIP), 'gzip');
  assert.equal(negotiate('identity', BR_GZIP), undefined);
  assert.equal(negotiate('deflate', BR_GZIP), undefined);
});

test('Accept-Encoding: absent, empty or malformed q-values', () => {
  assert.equal(negotiate(undefined, BR_GZIP), undefined);
  assert.equal(negotiate('', BR_GZIP), undefined);
  assert.equal(negotiate(' , ,gzip', BR_GZIP), 'gzip');
  assert.equal(negotiate('gzip;q=2', BR_GZIP), undefined);
  assert.equal(negotiate('gzip;q=abc, br;q=0.1', BR_GZIP), 'br');
  assert.equal(negotiate('gzip ; q=0.3 , br ; Q=0.2', BR_GZIP), 'gzip');
  assert.equal(negotiate('gzip', []), undefined);
});

const policy = new CompressionPolicy({ encodings: BR_GZIP, types: DEFAULT_TYPES, minSize: 1024, levels: DEFAULT_LEVELS });
const GZIP_REQUEST = ['Accept-Encoding', 'gzip'];
const JSON_2K = ['Content-Type', 'application/json; charset=utf-8', 'Content-Length', '2048'];

test('the policy compresses listed types above the minimum size, or without a length', () => {
  assert.equal(policy.choose('GET', GZIP_REQUEST, 200, JSON_2K), 'gzip');
  assert.equal(policy.choose('GET', GZIP_REQUEST, 404, ['content-type', 'text/html']), 'gzip');
  assert.equal(policy.choose('GET', GZIP_REQUEST, 200, ['content-type', 'image/svg+xml']), 'gzip');
  assert.equal(policy.choose('GET', GZIP_REQUEST, 200, ['Content-Type', 'application/json', 'Content-Length', '100']), undefined);
  assert.equal(policy.choose('GET', GZIP_REQUEST, 200, ['Content-Type', 'image/png', 'Content-Length', '5000']), undefined);
  assert.equal(policy.choose('GET', GZIP_REQUEST, 200, ['Content-Length', '5000']), undefined);
  assert.equal(policy.choose('GET', ['accept-encoding', 'identity'], 200, JSON_2K), VARY_ONLY);
  assert.equal(policy.choose('GET', [], 200, JSON_2K), VARY_ONLY);
});

test('the policy skips encoded, no-transform, ranges, HEAD, 204, 206 and 304', () => {
  assert.equal(policy.choose('GET', GZIP_REQUEST, 200, [...JSON_2K, 'Content-Encoding', 'gzip']), undefined);
  assert.equal(policy.choose('GET', GZIP_REQUEST, 200, [...JSON_2K, 'Cache-Control', 'public, no-transform']), undefined);
  assert.equal(policy.choose('GET', GZIP_REQUEST, 200, [...JSON_2K, 'Cache-Control', 'no-store']), 'gzip');
  assert.equal(policy.choose('GET', GZIP_REQUEST, 206, JSON_2K), undefined);
  assert.equal(policy.choose('GET', [...GZIP_REQUEST, 'Range', 'bytes=0-10'], 200, JSON_2K), VARY_ONLY);
  assert.equal(policy.choose('HEAD', GZIP_REQUEST, 200, JSON_2K), VARY_ONLY);
  assert.equal(policy.choose('GET', GZIP_REQUEST, 204, JSON_2K), undefined);
  assert.equal(policy.choose('GET', GZIP_REQUEST, 304, JSON_2K), undefined);
  const off = new CompressionPolicy({ encodings: [], types: DEFAULT_TYPES, minSize: 0, levels: DEFAULT_LEVELS });
  assert.equal(off.choose('GET', GZIP_REQUEST, 200, JSON_2K), undefined);
});

test('compressed headers: no length, a weak ETag, Vary appended once, Content-Encoding', () => {
  assert.deepEqual(compressedHeaders([...JSON_2K, 'ETag', '"abc"', 'Vary', 'Origin'], 'gzip'),
    ['Content-Type', 'application/json; charset=utf-8', 'ETag', 'W/"abc"', 'Vary', 'Origin, Accept-Encoding', 'content-encoding', 'gzip']);
  assert.deepEqual(compressedHeaders(['ETag', 'W/"x"', 'vary', 'accept-encoding'], 'br'), ['ETag', 'W/"x"', 'vary', 'accept-encoding', 'content-encoding', 'br']);
  assert.deepEqual(compressedHeaders([...JSON_2K, 'ETag', '"abc"'], VARY_ONLY), [...JSON_2K, 'ETag', '"abc"', 'vary', 'Accept-Encoding']);
  assert.deepEqual(compressedHeaders(['Vary', '*'], 'gzip'), ['Vary', '*', 'content-encoding', 'gzip']);
});
