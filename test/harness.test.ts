// @engine-independent: it tests the suite's own process handling, with fixtures in place of the CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, watch } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { responsesIn } from './helpers/http.js';
import { StartError, startLb } from './helpers/lb.js';
import { listen } from './helpers/ports.js';
import { isRunning } from './helpers/process.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/never-listens.js', import.meta.url));

interface Pids { pid: number; child: number }

/** Resolves with the PIDs the hanging fixture writes to `file`, once it has written them. */
function pidsWritten(file: string): Promise<Pids> {
  return new Promise((resolve) => {
    const read = (): boolean => {
      if (!existsSync(file)) return false;
      watcher.close();
      resolve(JSON.parse(readFileSync(file, 'utf8')) as Pids);
      return true;
    };
    const watcher = watch(dirname(file), () => void read());
    read();
  });
}

/** Starts the fixture in hang mode and aborts the start once it and its child are both running. */
async function startHanging(): Promise<Pids & { error: Error }> {
  const file = join(mkdtempSync(join(tmpdir(), 'lb-harness-')), 'pids.json');
  const abort = new AbortController();
  const written = pidsWritten(file);
  void written.then(() => abort.abort());
  const error = await startLb({ FIXTURE_MODE: 'hang', FIXTURE_PIDS: file }, { script: FIXTURE, signal: abort.signal }).then(
    () => assert.fail('the start should have failed'),
    (e: unknown) => e as Error,
  );
  return { error, ...await written };
}

test('a process that exits before it listens fails the start at once, with its exit code and standard error', async () => {
  // No timeout is given: the default safety timeout is minutes, so only the exit can end this wait.
  await assert.rejects(startLb({ FIXTURE_MODE: 'exit' }, { script: FIXTURE }), (error: Error) => {
    assert.match(error.message, /^lb exited \(3\) first/);
    assert.match(error.message, /fixture: no backends to serve/);
    return true;
  });
});

test('a start that is given up (aborted) kills the process and the child it started: neither is left', async () => {
  const { error, pid, child } = await startHanging();
  assert.match(error.message, /^the wait was aborted/);
  assert.equal((error as StartError).pid, pid);
  assert.match(error.message, /"msg":"starting"/, 'what it printed is in the error');
  assert.equal(isRunning(pid), false, `the process ${pid} is gone`);
  assert.equal(isRunning(child), false, `its child ${child} is gone`);
});

test('a start that reaches its safety timeout kills the process before it rejects', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lb-harness-'));
  const started = startLb({ FIXTURE_MODE: 'hang', FIXTURE_PIDS: join(dir, 'pids.json') }, { script: FIXTURE, startTimeoutMs: 200 });
  const error = await started.then(() => assert.fail('the start should have failed'), (e: unknown) => e as StartError);
  assert.ok(error instanceof StartError);
  assert.match(error.message, /^no matching log line within 200 ms/);
  assert.ok(error.pid !== undefined);
  assert.equal(isRunning(error.pid), false, `the process ${error.pid} is gone`);
});

test('a spawned process and its child die with the test process that started them, even one killed with SIGKILL', async (t) => {
  // Each of the fixture and its child holds a connection to this server and sends its PID on it.
  const held: Promise<number>[] = [];
  const gone: Promise<void>[] = [];
  let connected: () => void;
  const both = new Promise<void>((resolve) => { connected = resolve; });
  const server = createServer((socket) => {
    let pid = '';
    // The PID ends with a newline; the connection stays open as long as its process lives.
    held.push(new Promise((resolve) => socket.setEncoding('latin1').on('data', (c: string) => {
      pid += c;
      if (pid.endsWith('\n')) resolve(Number(pid));
    })));
    gone.push(new Promise((resolve) => socket.on('error', () => undefined).once('close', () => resolve())));
    if (held.length === 2) connected();
  });
  await listen(server, '127.0.0.1', 0);
  t.after(() => server.close());
  const helpers = new URL('./helpers/lb.js', import.meta.url).href;
  const env = { FIXTURE_MODE: 'hang', FIXTURE_HOLD: String((server.address() as AddressInfo).port) };
  // A test process of its own starts the hanging fixture, and is then killed.
  const parent = spawn(process.execPath, ['--input-type=module', '-e', `
    import { startLb } from '${helpers}';
    void startLb(${JSON.stringify(env)}, { script: ${JSON.stringify(FIXTURE)} }).catch(() => undefined);
  `], { stdio: ['ignore', 'ignore', 'inherit'] });
  t.after(() => parent.kill('SIGKILL'));
  await both;
  const pids = await Promise.all(held);
  parent.kill('SIGKILL');
  await once(parent, 'exit');
  // The kernel closes a process's connections as it dies: both closed, both are gone.
  await Promise.all(gone);
  for (const pid of pids) assert.equal(isRunning(pid), false, `${pid} is gone`);
});

test('a raw exchange ends on the framing of the responses, not on a pause', () => {
  const ok = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
  const chunked = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n';
  const refused = 'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n';
  const cases: [string, number, boolean][] = [
    ['', 0, false],
    ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\no', 0, false],
    [ok, 1, false],
    [ok + ok, 2, false],
    [chunked, 1, false],
    [chunked.slice(0, -2), 0, false],
    ['HTTP/1.1 100 Continue\r\n\r\n', 0, false],
    [`HTTP/1.1 100 Continue\r\n\r\n${ok}`, 1, false],
    ['HTTP/1.1 204 No Content\r\n\r\n', 1, false],
    ['HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x00', 1, false],
    ['HTTP/1.0 200 OK\r\n\r\nuntil the close', 0, false],
    ['HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok', 1, true],
    ['HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok', 1, false],
    [refused, 1, true],
    [`${ok}HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n`, 1, false],
  ];
  for (const [data, complete, closes] of cases) assert.deepEqual(responsesIn(data), { complete, closes }, JSON.stringify(data));
});
