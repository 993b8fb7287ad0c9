import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AcmeStorage } from './storage.js';

const KEY = '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n';
const CHAIN = '-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nCCCC\n-----END CERTIFICATE-----\n';

function storage(): AcmeStorage {
  const s = new AcmeStorage(join(mkdtempSync(join(tmpdir(), 'lb-acme-unit-')), 'store'));
  s.prepare();
  return s;
}

test('certificates and the account key are written 0600 by rename (no temporary file left) and read back whole', () => {
  const s = storage();
  assert.equal(statSync(s.dir).mode & 0o777, 0o700);
  s.writeAccountKey(KEY);
  s.writeCertificate('a.example', { cert: CHAIN, key: KEY });
  s.writeCertificate('a.example', { cert: CHAIN, key: KEY });
  assert.deepEqual(readdirSync(s.dir).sort(), ['a.example.pem', 'account.key']);
  for (const f of readdirSync(s.dir)) assert.equal(statSync(join(s.dir, f)).mode & 0o777, 0o600);
  assert.deepEqual(s.readCertificate('a.example'), { cert: CHAIN, key: KEY });
  assert.equal(s.readAccountKey(), KEY);
  assert.equal(s.readCertificate('b.example'), undefined);
  writeFileSync(join(s.dir, 'half.pem'), KEY);
  assert.equal(s.readCertificate('half'), undefined, 'a file without a chain is no certificate');
});

test('the order lock: one holder at a time, released only by its holder, taken over once stale', () => {
  const s = storage();
  const now = Date.now();
  const first = s.lock(60_000, now);
  assert.ok(first);
  assert.equal(s.lock(60_000, now), undefined, 'held');
  first.release();
  const second = s.lock(60_000, now);
  assert.ok(second, 'free again');
  first.release(); // not its lock any more: nothing happens
  assert.equal(s.lock(60_000, now), undefined, 'still held by the second');
  // The holder died: its lock is older than the stale age.
  utimesSync(join(s.dir, 'order.lock'), new Date(now - 120_000), new Date(now - 120_000));
  const third = s.lock(60_000, now);
  assert.ok(third, 'a stale lock is taken over');
  second.release();
  assert.equal(s.lock(60_000, now), undefined, 'the stale holder cannot release the new lock');
  third.release();
});
