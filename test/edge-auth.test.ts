import assert from 'node:assert/strict';
import bcrypt from 'bcryptjs';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { connect, type IncomingHttpHeaders } from 'node:http2';
import { join } from 'node:path';
import { test } from 'node:test';
import { startBackend } from './helpers/backend.js';
import { ask, basic, echo, echoBackend, metric, startWithConfig } from './helpers/edge.js';
import { rawConnect } from './helpers/http.js';

/** An htpasswd line as `htpasswd -B` writes it ($2y$), at bcrypt cost `cost`. */
function htpasswdLine(user: string, password: string, cost: number): string {
  return `${user}:${bcrypt.hashSync(password, cost).replace(/^\$2b\$/, '$2y$')}`;
}

function basicRoutes(backend: string, extra = ''): string {
  return `pools:
  app: { backends: [${backend}] }
routes:
  - name: private
    matches: [{ path: { type: PathPrefix, value: /private } }]
    filters: [{ type: BasicAuth, basicAuth: { htpasswd: ./users.htpasswd, realm: "Staff only"${extra} } }]
    backendRefs: [{ name: app }]
  - name: kept
    matches: [{ path: { type: PathPrefix, value: /kept } }]
    filters: [{ type: BasicAuth, basicAuth: { htpasswd: ./users.htpasswd, keepAuthorization: true } }]
    backendRefs: [{ name: app }]
  - name: public
    backendRefs: [{ name: app }]
`;
}

test('BasicAuth: good, wrong and missing credentials; 401 with the challenge, an error code, a policy field and a counter', async (t) => {
  const backend = await echoBackend(t);
  const lb = await startWithConfig(t, basicRoutes(backend.url), { 'users.htpasswd': `# staff\n${htpasswdLine('alice', 'wonderland', 4)}\n\n${htpasswdLine('bob', 's3cret:x', 5)}\n` });

  const missing = await ask(lb.port, '/private/a');
  assert.equal(missing.status, 401);
  assert.equal(missing.headers['www-authenticate'], 'Basic realm="Staff only", charset="UTF-8"');
  const wrong = await ask(lb.port, '/private/a', { authorization: basic('alice', 'nope') });
  assert.equal(wrong.status, 401);
  const unknown = await ask(lb.port, '/private/a', { authorization: basic('carol', 'wonderland') });
  assert.equal(unknown.status, 401);
  const bearer = await ask(lb.port, '/private/a', { authorization: 'Bearer abc' });
  assert.equal(bearer.status, 401);

  const good = await ask(lb.port, '/private/a', { authorization: basic('alice', 'wonderland') });
  assert.equal(good.status, 200);
  assert.equal(good.echo!.url, '/private/a');
  assert.equal(good.echo!.headers.authorization, undefined, 'Authorization is removed before the backend');
  // A password with a colon: only the first colon separates the user.
  assert.equal((await ask(lb.port, '/private/b', { authorization: basic('bob', 's3cret:x') })).status, 200);
  // Cached: the same credentials again, and again on the kept route, which forwards them.
  assert.equal((await ask(lb.port, '/private/c', { authorization: basic('alice', 'wonderland') })).status, 200);
  const kept = await ask(lb.port, '/kept', { authorization: basic('alice', 'wonderland') });
  assert.equal(kept.status, 200);
  assert.equal(kept.echo!.headers.authorization, basic('alice', 'wonderland'), 'keepAuthorization forwards it');
  assert.equal((await ask(lb.port, '/kept', {})).headers['www-authenticate'], 'Basic realm="restricted", charset="UTF-8"');
  // A route without the filter is not touched.
  const open = await ask(lb.port, '/public', { authorization: 'Bearer abc' });
  assert.equal(open.status, 200);
  assert.equal(open.echo!.headers.authorization, 'Bearer abc');

  const refused = await lb.waitForLog((l) => l.msg === 'request' && l.status === 401 && l.path === '/kept');
  assert.equal(refused.error, 'LB_ERR_UNAUTHORIZED');
  assert.equal(refused.policy, 'basic-auth');
  assert.equal(refused.route, 'kept');
  const granted = await lb.waitForLog((l) => l.msg === 'request' && l.status === 200 && l.path === '/private/a');
  assert.equal(granted.policy, undefined);
  assert.equal(await metric(lb.admin, 'lb_policy_refusals_total{policy="basic-auth",route="private"}'), 4);
  assert.equal(await metric(lb.admin, 'lb_policy_refusals_total{policy="basic-auth",route="kept"}'), 1);
});

test('BasicAuth: a POST body reaches the backend whole after bcrypt; a client leaving during bcrypt sends nothing on', async (t) => {
  let hits = 0;
  // Health checks ask for /; only the routed requests count.
  const backend = await startBackend('app', (req, res, b) => { if (req.url!.startsWith('/private')) hits++; echo(req, res, b); });
  t.after(() => backend.close());
  const lb = await startWithConfig(t, basicRoutes(backend.url), { 'users.htpasswd': `${htpasswdLine('alice', 'wonderland', 10)}\n${htpasswdLine('slow', 'pw', 14)}\n` }, { LOG_LEVEL: 'debug' });
  const body = 'x'.repeat(200_000);
  const posted = await ask(lb.port, '/private/upload', { authorization: basic('alice', 'wonderland'), 'content-type': 'text/plain' }, { method: 'POST', body });
  assert.equal(posted.status, 200);
  assert.equal(posted.echo!.method, 'POST');
  assert.equal(posted.echo!.body.length, body.length);
  assert.equal(posted.echo!.body, body);
  assert.equal(hits, 1);

  const socket = await rawConnect(lb.port);
  socket.write(`GET /private/gone HTTP/1.1\r\nHost: x\r\nAuthorization: ${basic('slow', 'pw')}\r\n\r\n`);
  // Once its request is read the client goes: the bcrypt comparison (cost 14: about a second here, four times cost 12, which a busy machine outran) is still running.
  await lb.waitForLog((l) => l.msg === 'waiting for authentication' && l.policy === 'basic-auth' && l.path === '/private/gone');
  socket.destroy();
  const line = await lb.waitForLog((l) => l.msg === 'request' && l.path === '/private/gone');
  assert.equal(line.status, 499);
  // The comparison ends after the client left: nothing is sent on, and the balancer still serves.
  assert.equal((await ask(lb.port, '/private/x', { authorization: basic('alice', 'wonderland') })).status, 200);
  assert.equal(hits, 2);
});

test('BasicAuth: a reload reads the changed htpasswd file; a non-bcrypt hash is refused naming the file and line', async (t) => {
  const backend = await echoBackend(t);
  const lb = await startWithConfig(t, basicRoutes(backend.url), { 'users.htpasswd': `${htpasswdLine('alice', 'one', 4)}\n` });
  assert.equal((await ask(lb.port, '/private', { authorization: basic('alice', 'one') })).status, 200);
  writeFileSync(join(lb.dir, 'users.htpasswd'), `${htpasswdLine('alice', 'two', 4)}\n${htpasswdLine('dave', 'three', 4)}\n`);
  lb.proc.kill('SIGHUP');
  await lb.waitForLog((l) => l.msg === 'configuration reloaded');
  assert.equal((await ask(lb.port, '/private', { authorization: basic('alice', 'one') })).status, 401, 'the old password, cached before, is refused');
  assert.equal((await ask(lb.port, '/private', { authorization: basic('alice', 'two') })).status, 200);
  assert.equal((await ask(lb.port, '/private', { authorization: basic('dave', 'three') })).status, 200);

  writeFileSync(join(lb.dir, 'users.htpasswd'), `${htpasswdLine('alice', 'two', 4)}\nmallory:$apr1$abc$0123456789012345678901\n`);
  lb.proc.kill('SIGHUP');
  const failed = await lb.waitForLog((l) => l.msg === 'configuration reload failed: keeping the current one');
  assert.match(String(failed.err), /users\.htpasswd line 2 \(user "mallory"\): expected a bcrypt hash .*not an Apache MD5 \(\$apr1\$\) hash/);
  assert.equal((await ask(lb.port, '/private', { authorization: basic('dave', 'three') })).status, 200, 'the table in effect stays');
});

test('BasicAuth: a gRPC call without credentials gets UNAUTHENTICATED (16), the gRPC way', async (t) => {
  const backend = await echoBackend(t);
  const lb = await startWithConfig(t, basicRoutes(backend.url), { 'users.htpasswd': `${htpasswdLine('alice', 'wonderland', 4)}\n` });
  const session = connect(`http://127.0.0.1:${lb.port}`);
  t.after(() => session.close());
  const stream = session.request({ ':method': 'POST', ':path': '/private/pkg.Service/Method', 'content-type': 'application/grpc', te: 'trailers' });
  stream.end(Buffer.from([0, 0, 0, 0, 0]));
  const [headers] = await once(stream, 'response') as [IncomingHttpHeaders];
  stream.resume();
  const trailers = await new Promise<IncomingHttpHeaders>((resolve) => {
    let got: IncomingHttpHeaders = {};
    stream.on('trailers', (h: IncomingHttpHeaders) => { got = h; });
    stream.on('close', () => resolve(got));
  });
  assert.equal(headers[':status'], 200);
  assert.equal(headers['grpc-status'] ?? trailers['grpc-status'], '16');
  const line = await lb.waitForLog((l) => l.msg === 'request' && l.path === '/private/pkg.Service/Method');
  assert.equal(line.grpcStatus, 16);
  assert.equal(line.error, 'LB_ERR_UNAUTHORIZED');
  assert.equal(line.policy, 'basic-auth');
});
