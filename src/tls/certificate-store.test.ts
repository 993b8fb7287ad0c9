import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CertificateError, CertificateStore } from './certificate-store.js';
import { ServerContexts } from './server-contexts.js';

const dir = mkdtempSync(join(tmpdir(), 'lb-store-'));

/** A self-signed certificate for `sans` (EC P-256, or RSA), made with the openssl CLI. */
function selfSigned(name: string, sans: string, rsa = false): { cert: string; key: string } {
  execFileSync('openssl', ['req', '-x509', ...(rsa ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']), '-nodes', '-days', '1',
    '-subj', `/CN=${name}`, '-addext', `subjectAltName=${sans}`, '-keyout', `${name}.key`, '-out', `${name}.pem`], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  return { cert: readFileSync(join(dir, `${name}.pem`), 'utf8'), key: readFileSync(join(dir, `${name}.key`), 'utf8') };
}

const first = selfSigned('first', 'DNS:first.test');
const wild = selfSigned('wild', 'DNS:*.w.test,DNS:Other.test');
const exact = selfSigned('exact', 'DNS:a.w.test');
const rsa = selfSigned('first-rsa', 'DNS:first.test', true);
const otherRsa = selfSigned('other-rsa', 'DNS:other.test', true);

test('names from SANs (lowercase); lookups exact, then one-label wildcard, then the default; contexts shared by names that share certificates', () => {
  const store = new CertificateStore();
  assert.equal(store.contextFor('first.test'), undefined, 'empty: nothing');
  assert.deepEqual(store.set('first', first), ['first.test']);
  assert.deepEqual(store.set('wild', wild), ['*.w.test', 'other.test']);
  store.set('exact', exact);
  const defaults = store.contextFor(undefined);
  assert.ok(defaults);
  assert.equal(store.contextFor('first.test'), defaults);
  assert.equal(store.contextFor('b.w.test'), store.contextFor('OTHER.test.'), 'one certificate, one context');
  assert.notEqual(store.contextFor('b.w.test'), defaults);
  assert.notEqual(store.contextFor('a.w.test'), store.contextFor('b.w.test'), 'exact before wildcard');
  assert.equal(store.contextFor('x.a.w.test'), defaults, 'two labels: the default');
  assert.equal(store.contextFor('w.test'), defaults);
  assert.equal(store.contextFor('unknown.test'), defaults);
  // Beside the default, one context per key type, chosen by the client's signature algorithms.
  store.set('other-rsa', otherRsa);
  const ec = store.contextFor('other.test', ['ECDSA+SHA256', 'RSA-PSS+SHA256']);
  assert.equal(ec, store.contextFor('b.w.test'));
  assert.notEqual(store.contextFor('other.test', ['RSA-PSS+SHA256', 'ECDSA+SHA256']), ec);
  assert.equal(store.contextFor('other.test', ['RSA+SHA256']), store.contextFor('other.test', ['RSA-PSS+SHA256']));
  assert.equal(store.contextFor('other.test'), ec, 'no preference: the first set');
  let answered: unknown;
  store.SNICallback('b.w.test', (err, context) => { assert.equal(err, null); answered = context; });
  assert.equal(answered, store.contextFor('b.w.test'));
  // The default set's names, and names nothing serves, keep the server's own context (which has the default set whole).
  for (const name of ['first.test', 'unknown.test']) store.SNICallback(name, (err, context) => { assert.equal(err, null); answered = context; assert.equal(answered, undefined); });
});

test('RSA and ECDSA for a name share one context; a replaced source keeps its place; delete; a bad pair changes nothing', () => {
  const store = new CertificateStore(new ServerContexts({ minVersion: 'TLSv1.2' }));
  const changes: number[] = [];
  store.onChange(() => changes.push(changes.length));
  store.set('first', first);
  const ecOnly = store.contextFor('first.test');
  store.set('first-rsa', rsa);
  assert.notEqual(store.contextFor('first.test'), ecOnly, 'rebuilt with both');
  assert.equal((store.defaultOptions()!.cert as unknown[]).length, 2, 'the default serves both key types');
  store.set('wild', wild);
  const withBoth = store.contextFor('first.test');
  store.set('wild', exact);
  assert.equal(store.contextFor('first.test'), withBoth, 'unchanged certificates keep their context');
  assert.deepEqual([...store.sources().keys()], ['first', 'first-rsa', 'wild']);
  assert.throws(() => store.set('broken', { cert: first.cert, key: wild.key }), CertificateError);
  assert.throws(() => store.set('first', { cert: 'not a certificate', key: first.key }), CertificateError);
  assert.equal(store.has('broken'), false);
  assert.equal(store.contextFor('first.test'), withBoth, 'a failed set changes nothing');
  assert.equal(store.delete('first'), true);
  assert.equal(store.delete('first'), false);
  assert.deepEqual((store.defaultOptions()!.cert as unknown[]).length, 1, 'the RSA one is the default now');
  assert.equal(changes.length, 5, 'one per change, none for a failed set or a delete of nothing');
});
