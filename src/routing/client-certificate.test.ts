import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../config/errors.js';
import { parseRoutes } from './route-spec.js';
import { RouteTable } from './route-table.js';
import type { ClientCertificate } from '../tls/client-certificate.js';

const POOLS = new Set(['api', 'web']);
const admin: ClientCertificate = { subject: 'CN=admin,O=Example', sans: ['spiffe://example.test/admin', 'admin.example.test'], xfcc: '' };
const user: ClientCertificate = { subject: 'CN=user,O=Example', sans: ['spiffe://example.test/user'], xfcc: '' };

test('clientCertificate matches: subject and SAN conditions, more specific than none, never met without a certificate', () => {
  const routes = parseRoutes([
    { name: 'plain', backendRefs: [{ name: 'web' }] },
    { name: 'admin', matches: [{ clientCertificate: { subject: { value: 'CN=admin,O=Example' } } }], backendRefs: [{ name: 'api' }] },
    { name: 'spiffe', matches: [{ path: { value: '/s' }, clientCertificate: { san: { type: 'RegularExpression', value: 'spiffe://example\\.test/.+' } } }], backendRefs: [{ name: 'api' }] },
  ], POOLS, 'lb.yaml');
  assert.deepEqual(routes[1]!.matches[0]!.clientCertificate, { subject: { type: 'Exact', value: 'CN=admin,O=Example' } });
  const table = RouteTable.compile(routes);
  assert.deepEqual(table.unreachable, []);
  const routeOf = (url: string, cert: ClientCertificate | undefined): string | undefined => table.match('x', 'GET', url, ['Host', 'x'], { clientCertificate: cert })?.route.name;
  assert.equal(routeOf('/', admin), 'admin');
  assert.equal(routeOf('/', user), 'plain');
  assert.equal(routeOf('/', undefined), 'plain');
  assert.equal(routeOf('/s', user), 'spiffe');
  assert.equal(routeOf('/s', undefined), 'plain');
  assert.match(table.describe(), /client certificate subject=CN=admin,O=Example/);
  assert.match(table.describe(), /client certificate san~spiffe:\/\/example\\\.test\/\.\+ /);
});

test('clientCertificate and the ClientCertificate filter: what is refused', () => {
  const fails = (routes: unknown, message: RegExp): void => {
    assert.throws(() => parseRoutes(routes, POOLS, 'lb.yaml'), (err: unknown) => err instanceof ConfigError && message.test(err.message));
  };
  fails([{ name: 'r', matches: [{ clientCertificate: {} }], backendRefs: [{ name: 'api' }] }], /matches\[0\]\.clientCertificate\.subject is missing in lb\.yaml: expected a subject or a san condition/);
  fails([{ name: 'r', matches: [{ clientCertificate: { issuer: {} } }], backendRefs: [{ name: 'api' }] }], /clientCertificate\.issuer is not a known key/);
  fails([{ name: 'r', matches: [{ clientCertificate: { san: { type: 'RegularExpression', value: '(' } } }], backendRefs: [{ name: 'api' }] }], /a valid regular expression/);
  fails([{ name: 'r', filters: [{ type: 'ClientCertificate', clientCertificate: { required: 'yes' } }], backendRefs: [{ name: 'api' }] }], /filters\[0\]\.clientCertificate\.required "yes" in lb\.yaml: expected true/);
  const [r] = parseRoutes([{ name: 'r', filters: [{ type: 'ClientCertificate', clientCertificate: { required: true } }], backendRefs: [{ name: 'api' }] }], POOLS, 'lb.yaml');
  assert.deepEqual(r!.filters, [{ type: 'ClientCertificate', clientCertificate: { required: true } }]);
});
