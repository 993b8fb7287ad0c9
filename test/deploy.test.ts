// @engine-independent: it checks the Dockerfile and compose files and runs the image's entry point as they configure it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { SETTINGS } from '../src/index.js';
import { startBackends } from './helpers/backend.js';
import { untilPrinted } from './helpers/process.js';
import { get } from './helpers/http.js';
import { freePort } from './helpers/lb.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');
const PKG = JSON.parse(read('package.json')) as { bin: Record<string, string> };
const SETTING_ENVS = new Set(SETTINGS.map((s) => s.env));
const IMAGE = `l7-balancer:${(JSON.parse(read('package.json')) as { version: string }).version}`;

interface Instruction { readonly op: string; readonly args: string }
interface Stage { readonly from: string; readonly name: string | undefined; readonly steps: Instruction[] }

/** The Dockerfile as stages of instructions (continuation lines joined, comments dropped). */
function dockerfile(): { args: Map<string, string>; stages: Stage[] } {
  const lines = read('Dockerfile').replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of lines) {
    const [, op = '', rest = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    if (op === 'ARG' && stages.length === 0) {
      const [k, v = ''] = rest.split('=');
      args.set(k!, v);
    } else if (op === 'FROM') {
      const [image, as, name] = rest.split(/\s+/);
      stages.push({ from: image!.replace(/\$\{(\w+)\}/g, (_, k: string) => args.get(k) ?? ''), name: as?.toUpperCase() === 'AS' ? name : undefined, steps: [] });
    } else {
      stages.at(-1)!.steps.push({ op, args: rest });
    }
  }
  return { args, stages };
}

function step(stage: Stage, op: string): Instruction[] {
  return stage.steps.filter((s) => s.op === op);
}

/** The listeners' defaults. */
const DEFAULT = Object.fromEntries(SETTINGS.map((s) => [s.key, s.default])) as { port: number; host: string };

/** The runtime stage's CMD (its default arguments) and the config file it names, as the repository has it. */
function imageConfig(run: Stage): { cmd: string[]; source: string; config: { port?: number; admin?: { port?: number } } } {
  const cmd = JSON.parse(step(run, 'CMD').at(-1)!.args) as string[];
  const file = cmd[cmd.indexOf('--config') + 1]!;
  const copy = step(run, 'COPY').find((s) => !s.args.startsWith('--from') && s.args.split(/\s+/).at(-1)!.replace(/^\.\//, '') === file)!;
  assert.ok(copy !== undefined, `the image's --config ${file} is copied in`);
  const source = copy.args.split(/\s+/)[0]!;
  return { cmd, source, config: parse(read(source)) as { port?: number; admin?: { port?: number } } };
}

test('the Dockerfile: pinned LTS slim base, two stages, production dependencies only, non-root, probes on /healthz, the CLI as entrypoint', () => {
  const { args, stages } = dockerfile();
  assert.equal(stages.length, 2, 'build and runtime stages');
  const version = args.get('NODE_VERSION') ?? '';
  assert.match(version, /^\d+\.\d+\.\d+$/, 'the Node version is pinned');
  assert.equal(Number(version.split('.')[0]) % 2, 0, 'an LTS (even) line');
  for (const stage of stages) assert.match(stage.from, new RegExp(`^node:${version.replaceAll('.', '\\.')}-\\w+-slim$`));
  const [build, run] = stages as [Stage, Stage];
  assert.ok(step(build, 'RUN').some((s) => /npm ci\b/.test(s.args) && !/--omit=dev/.test(s.args)), 'the build stage installs the dev dependencies');
  assert.ok(step(run, 'RUN').some((s) => /npm ci\b.*--omit=dev/.test(s.args)), 'the runtime stage installs production dependencies only');
  for (const copy of step(run, 'COPY')) {
    const sources = copy.args.split(/\s+/).filter((p) => !p.startsWith('--')).slice(0, -1);
    if (copy.args.startsWith('--from=')) assert.ok(sources.every((p) => p.startsWith('/app/dist/')), `${copy.args}: only built output from the build stage`);
    else assert.ok(sources.every((p) => !/^(src|test|bench|node_modules|tsconfig)/.test(p)), `${copy.args}: no sources or build-time files`);
  }
  const user = step(run, 'USER').at(-1)?.args;
  assert.ok(user !== undefined && user !== 'root' && user !== '0', 'runs as a non-root user');
  assert.equal(step(run, 'STOPSIGNAL').at(-1)?.args, 'SIGTERM');
  const env = Object.fromEntries(step(run, 'ENV').flatMap((s) => s.args.split(/\s+/).map((kv) => kv.split('=') as [string, string])));
  for (const key of Object.keys(env)) assert.ok(key === 'NODE_ENV' || SETTING_ENVS.has(key), `ENV ${key} is a setting`);
  // The environment wins over a config file: listeners set in the image would silently override
  // the ports and address of any file given with --config (a Kubernetes ConfigMap).
  for (const key of ['HOST', 'PORT', 'ADMIN_HOST', 'ADMIN_PORT']) assert.ok(!(key in env), `no ENV ${key} in the image`);
  // The listeners come from the defaults and the image's default config file (its CMD).
  const { config, source } = imageConfig(run);
  assert.equal(config.port, undefined, 'the traffic port is the default');
  assert.ok(config.admin?.port !== undefined, `${source} turns the admin listener on for HEALTHCHECK`);
  const exposed = step(run, 'EXPOSE').flatMap((s) => s.args.split(/\s+/));
  assert.ok(exposed.includes(String(DEFAULT.port)) && exposed.includes(String(config.admin!.port)), 'EXPOSE has the traffic and admin ports');
  assert.equal(DEFAULT.host, '0.0.0.0', 'traffic on every interface in a container');
  assert.match(step(run, 'HEALTHCHECK').at(-1)?.args ?? '', /\/healthz/);
  assert.deepEqual(JSON.parse(step(run, 'ENTRYPOINT').at(-1)!.args), ['node', PKG.bin.lb]);

  // Everything the Dockerfile copies from the context exists and gets past .dockerignore.
  const allowed = read('.dockerignore').split('\n').filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, ''));
  for (const copy of stages.flatMap((s) => step(s, 'COPY')).filter((s) => !s.args.startsWith('--from'))) {
    for (const source of copy.args.split(/\s+/).slice(0, -1)) {
      assert.ok(existsSync(join(ROOT, source)), `COPY ${source}: exists`);
      assert.ok(allowed.includes(source.replace(/\/$/, '')), `COPY ${source}: allowed by .dockerignore`);
    }
  }
});

/**
 * An npm cache for the image's steps: a copy of this machine's, its files hard links (made in
 * an instant, no space taken), so that the image's `npm cache clean` empties the copy and not
 * the cache of whoever runs the tests (or of a test run going on beside this one).
 */
function npmCacheCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lb-image-npm-cache-'));
  const own = join(process.env.npm_config_cache ?? join(homedir(), '.npm'), '_cacache');
  if (existsSync(own)) execFileSync('cp', ['-al', own, join(dir, '_cacache')]);
  return dir;
}

/**
 * Runs one stage's steps in a directory standing for its WORKDIR: COPY from the repository (or
 * an earlier stage's directory), RUN through sh. No container engine is involved; this checks
 * that the steps the image build runs work on a clean copy of what the build context holds.
 */
function runStage(stage: Stage, dir: string, stages: Map<string, string>, npmCache: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const s of stage.steps) {
    if (s.op === 'COPY') {
      const parts = s.args.split(/\s+/);
      const from = parts[0]!.startsWith('--from=') ? stages.get(parts.shift()!.slice('--from='.length))! : ROOT;
      const dest = join(dir, parts.pop()!);
      for (const source of parts) {
        const src = from === ROOT ? join(ROOT, source) : join(from, source.replace(/^\/app\//, ''));
        const target = parts.length > 1 || dest.endsWith('/') ? join(dest, source.split('/').filter(Boolean).pop()!) : dest;
        mkdirSync(join(target, '..'), { recursive: true });
        cpSync(src, target, { recursive: true, filter: (p) => !p.endsWith('.test.ts') });
      }
    } else if (s.op === 'RUN') {
      // The packages come from npm's cache when it has them (CI has just run npm ci).
      execFileSync('sh', ['-c', s.args], { cwd: dir, stdio: 'pipe', env: { ...process.env, ...env, npm_config_prefer_offline: 'true', npm_config_cache: npmCache } });
    } else if (s.op === 'ENV') {
      for (const kv of s.args.split(/\s+/)) env[kv.split('=')[0]!] = kv.split('=')[1]!;
    }
  }
  return env;
}

/**
 * The image's steps run under the image's Node.js line (the Dockerfile's NODE_VERSION): on another
 * line they would prove nothing more about the image, and they are the suite's costliest test.
 */
const IMAGE_NODE_MAJOR = /^ARG NODE_VERSION=(\d+)/m.exec(read('Dockerfile'))?.[1];
const ON_IMAGE_LINE = IMAGE_NODE_MAJOR === process.versions.node.split('.')[0];

// An npm install and a full compile on a clean copy: about 50 s alone, past 3 min with two suites and more beside it.
test('the image build steps pass on a clean copy; the entrypoint, as PID 1, proxies, passes its HEALTHCHECK and drains on SIGTERM', {
  timeout: 600_000,
  skip: ON_IMAGE_LINE ? false : `the image runs Node.js ${IMAGE_NODE_MAJOR ?? '?'}, this is ${process.versions.node} (npm test on that line runs it)`,
}, async (t) => {
  const { stages } = dockerfile();
  const dirs = new Map<string, string>();
  let env: Record<string, string> = {};
  const npmCache = npmCacheCopy();
  t.after(() => rmSync(npmCache, { recursive: true, force: true }));
  for (const stage of stages) {
    const dir = mkdtempSync(join(tmpdir(), `lb-image-${stage.name ?? 'run'}-`));
    env = runStage(stage, dir, dirs, npmCache);
    if (stage.name !== undefined) dirs.set(stage.name, dir);
    dirs.set('final', dir);
  }
  const app = dirs.get('final')!;
  assert.ok(!existsSync(join(app, 'node_modules', 'typescript')), 'no dev dependency in the runtime stage');
  assert.ok(!readdirSync(join(app, 'dist', 'src')).some((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')));

  const [entry, ...entrypointArgs] = JSON.parse(step(stages[1]!, 'ENTRYPOINT').at(-1)!.args) as string[];
  const entryArgs = [...entrypointArgs, ...imageConfig(stages[1]!).cmd];
  const [a] = await startBackends(t, undefined, ['a']);
  const adminPort = await freePort();
  const runEnv = { ...env, PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', ADMIN_PORT: String(adminPort), BACKENDS: a!.url };
  // A PID namespace of its own makes the balancer PID 1, as in a container: PID 1 gets no default
  // signal handling, so SIGTERM works only because the balancer handles it itself.
  // --kill-child: the balancer goes with unshare when the test kills it.
  const proc = spawn('unshare', ['--pid', '--fork', '--kill-child', '--mount-proc', entry === 'node' ? process.execPath : entry!, ...entryArgs], { cwd: app, env: runEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => proc.kill('SIGKILL'));
  let out = '';
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => { out += c; });
  const adminUp = untilPrinted(proc, (text) => text.includes('"msg":"admin listening"'));
  adminUp.catch(() => undefined); // awaited below, once the first wait has passed
  const port = await new Promise<number>((resolve, reject) => {
    proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const line = out.split('\n').find((l) => l.includes('"msg":"listening"'));
      if (line !== undefined) resolve((JSON.parse(line) as { port: number }).port);
    });
    proc.once('exit', (code) => reject(new Error(`exited (${code}): ${out}`)));
  });
  assert.match(out, /"pid":1,/, 'the balancer is PID 1');
  // ADMIN_PORT given here overrides the image's config file, and says so.
  assert.match(out, new RegExp(`"msg":"ADMIN_PORT=${adminPort} in the environment overrides admin\\.port: 9901 in lb\\.yaml `));
  assert.equal((await get(`http://127.0.0.1:${port}/`)).body, 'a');
  await adminUp;

  // The HEALTHCHECK command, exactly as the Dockerfile has it.
  const check = JSON.parse(/CMD\s+(\[.*\])\s*$/.exec(step(stages[1]!, 'HEALTHCHECK').at(-1)!.args)![1]!) as string[];
  execFileSync(check[0] === 'node' ? process.execPath : check[0]!, check.slice(1), { cwd: app, env: runEnv, stdio: 'pipe' });

  const child = Number(readFileSync(`/proc/${proc.pid}/task/${proc.pid}/children`, 'utf8').trim().split(/\s+/)[0]);
  process.kill(child, 'SIGTERM');
  const [code] = await once(proc, 'exit');
  assert.equal(code, 0, out);
  assert.match(out, /"msg":"shutting down"/);
});

interface ComposeService { image?: string; build?: unknown; pull_policy?: string; entrypoint?: string[]; command?: string[]; ports?: string[]; environment?: Record<string, string>; depends_on?: string[] }

test('compose.yaml: the demo (npm start) in containers, the demo\'s own backends from the image, the balancer on 1234 with the origin\'s settings and its dashboard', async (t) => {
  const compose = parse(read('compose.yaml'), { merge: true }) as { services: Record<string, ComposeService> };
  const services = Object.entries(compose.services);
  for (const [name, s] of services) {
    assert.equal(s.image, IMAGE, `${name}: the project's image, under its one tag`);
    assert.ok(s.build !== undefined && s.pull_policy === 'build', `${name}: built here, never pulled`);
  }
  const backends = services.filter(([, s]) => s.entrypoint !== undefined);
  assert.equal(backends.length, 3);
  // The image holds the demo's backend (the Dockerfile copies dist/demo).
  const { stages } = dockerfile();
  assert.ok(step(stages[1]!, 'COPY').some((c) => c.args.startsWith('--from=build /app/dist/demo ')), 'the image has the demo');
  const [lbName, lb] = services.find(([, s]) => s.entrypoint === undefined)!;
  const env = lb.environment!;
  for (const key of Object.keys(env)) assert.ok(SETTING_ENVS.has(key), `${key} is a setting`);
  for (const origin of ['PORT', 'BACKENDS', 'PROXY_TIMEOUT', 'HEALTH_CHECK_TIMEOUT', 'HEALTH_CHECK_INTERVAL', 'HTTP_MAX_IDLE_CONNS', 'HTTP_MAX_IDLE_CONNS_PER_HOST', 'HTTP_IDLE_CONN_TIMEOUT']) {
    assert.ok(origin in env, `the origin's ${origin}`);
  }
  assert.equal(env.PORT, '1234');
  assert.equal(env.HEALTH_CHECK_PATH, '/health', 'health checks on the demo backends\' /health, as npm start does');
  assert.deepEqual(lb.depends_on?.slice().sort(), backends.map(([name]) => name).sort(), `${lbName} starts after the backends`);
  const urls = env.BACKENDS!.split(',');
  assert.deepEqual(urls.map((u) => new URL(u).hostname).sort(), backends.map(([name]) => name).sort(), 'BACKENDS names the backend services');
  for (const url of urls) {
    const [, s] = backends.find(([name]) => name === new URL(url).hostname)!;
    assert.equal(s.command![1], new URL(url).port, `${url}: the service listens there`);
    assert.ok(s.ports?.includes(`127.0.0.1:${s.command![1]}:${s.command![1]}`), `${url}: its /demo switches reachable from the host, as in npm start`);
  }
  // The environment (compose's default for ${ADMIN_TOKEN}) over the image's config file is valid;
  // the admin listener (the dashboard) is reachable through its published port.
  const resolved = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v.replace(/^\$\{\w+:-(.*)\}$/, '$1')]));
  const { cmd } = imageConfig(stages[1]!);
  const checked = execFileSync(process.execPath, [join(ROOT, 'dist/src/cli.js'), ...cmd, '--check'], { cwd: join(ROOT, 'deploy/docker'), env: { ...resolved, PATH: process.env.PATH ?? '' }, encoding: 'utf8' });
  assert.match(checked, /^configuration OK: 3 backend entries/);
  const adminPort = /admin 0\.0\.0\.0:(\d+)/.exec(checked)?.[1];
  assert.ok(adminPort !== undefined, `the admin listener on the container's every interface: ${checked}`);
  assert.match(checked, /^listeners: http 0\.0\.0\.0:1234, /m);
  assert.ok(lb.ports?.includes('1234:1234') && lb.ports.includes(`127.0.0.1:${adminPort}:${adminPort}`), 'the traffic port and the dashboard are published');

  // A backend service's command, run here: the demo backend with /echo and /demo/fail.
  const [, first] = backends[0]!;
  const [node, script] = first.entrypoint!;
  assert.equal(node, 'node');
  const proc = spawn(process.execPath, [join(ROOT, script!), first.command![0]!, '0', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => proc.kill('SIGKILL'));
  let said = '';
  proc.stdout!.setEncoding('utf8');
  while (!/listening on 127\.0\.0\.1:\d+\n/.test(said)) said += (await once(proc.stdout!, 'data') as [string])[0];
  const url = `http://127.0.0.1:${/:(\d+)\n/.exec(said)![1]}`;
  assert.equal((await get(`${url}/`)).body, `${first.command![0]}\n`);
  assert.equal(JSON.parse((await get(`${url}/echo`)).body).path, '/echo');
  assert.equal((await get(`${url}/demo/fail`)).status, 200);
  assert.equal((await get(`${url}/`)).status, 503);
  proc.kill('SIGTERM');
  assert.equal((await once(proc, 'exit'))[0], 0, 'it stops on SIGTERM as PID 1');
});

test('one image name and tag everywhere: the README, the Dockerfile, compose.yaml and the Deployment', () => {
  const files = ['README.md', 'Dockerfile', 'compose.yaml', ...readdirSync(join(ROOT, 'deploy/kubernetes')).map((f) => `deploy/kubernetes/${f}`)];
  let count = 0;
  for (const file of files) {
    for (const line of read(file).split('\n')) {
      if (!/^\s*(#\s*)?(docker|kind|kubectl|image:)/.test(line.replace(/^\s*-\s*/, ''))) continue;
      for (const word of line.split(/[\s"'=]+/)) {
        if (!/^l7-balancer(:|$)/.test(word)) continue;
        count++;
        assert.equal(word, IMAGE, `${file}: ${line.trim()}`);
      }
    }
  }
  assert.ok(count >= 6, `image references found: ${count}`);
  const readme = read('README.md');
  assert.match(readme, new RegExp(`^kind load docker-image ${IMAGE}\\s`, 'm'), 'the README loads the image into kind');
  assert.match(readme, /^docker push /m, 'the README pushes it to a registry');
});

test('deploy/kubernetes: probes on the admin port\'s /readyz and /healthz, a grace period longer than SHUTDOWN_TIMEOUT plus preStop, a config the balancer accepts', () => {
  const docs = readdirSync(join(ROOT, 'deploy/kubernetes')).filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => parseAllDocuments(read(`deploy/kubernetes/${f}`)).map((d) => { assert.deepEqual(d.errors, [], f); return d.toJS() as Record<string, any>; }));
  const kind = (k: string) => docs.filter((d) => d.kind === k);
  const map = kind('ConfigMap')[0]!;
  const file = map.data['lb.yaml'] as string;
  const config = parse(file) as { port: number; admin: { port: number }; shutdown: { timeout: string }; backends: string[] };
  // The balancer accepts the file (with the token the Secret gives).
  const dir = mkdtempSync(join(tmpdir(), 'lb-k8s-'));
  const path = join(dir, 'lb.yaml');
  execFileSync('sh', ['-c', 'cat > "$1"', 'sh', path], { input: file });
  assert.match(execFileSync(process.execPath, [join(ROOT, 'dist/src/cli.js'), '--config', path, '--check'], {
    env: { PATH: process.env.PATH ?? '', ADMIN_TOKEN: 'x'.repeat(32) }, encoding: 'utf8',
  }), /^configuration OK/);

  const deployment = kind('Deployment')[0]!;
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];
  assert.equal(deployment.spec.selector.matchLabels['app.kubernetes.io/name'], deployment.spec.template.metadata.labels['app.kubernetes.io/name']);
  const ports = Object.fromEntries(container.ports.map((p: { name: string; containerPort: number }) => [p.name, p.containerPort]));
  assert.equal(ports.http, config.port);
  assert.equal(ports.admin, config.admin.port);
  const probePort = (probe: { httpGet: { port: string | number } }): number => typeof probe.httpGet.port === 'number' ? probe.httpGet.port : ports[probe.httpGet.port];
  assert.equal(container.readinessProbe.httpGet.path, '/readyz');
  assert.equal(probePort(container.readinessProbe), config.admin.port);
  assert.equal(container.livenessProbe.httpGet.path, '/healthz');
  assert.equal(probePort(container.livenessProbe), config.admin.port);
  const preStop = Number(container.lifecycle.preStop.exec.command.at(-1));
  const shutdown = Number(/^(\d+)s$/.exec(config.shutdown.timeout)![1]);
  assert.ok(pod.terminationGracePeriodSeconds > shutdown + preStop, 'the kubelet waits for the drain');
  assert.ok(container.resources.requests.cpu && container.resources.limits.memory);
  assert.ok(pod.securityContext.runAsNonRoot);
  assert.ok(container.args.includes('--config') && container.volumeMounts.some((m: { mountPath: string }) => path.endsWith('lb.yaml') && container.args.at(-1).startsWith(m.mountPath)));
  const token = container.env.find((e: { name: string }) => e.name === 'ADMIN_TOKEN');
  assert.ok(token.valueFrom.secretKeyRef, 'the admin token comes from a Secret');

  const service = kind('Service').find((s) => s.metadata.name === deployment.metadata.name)!;
  assert.equal(service.spec.selector['app.kubernetes.io/name'], deployment.spec.template.metadata.labels['app.kubernetes.io/name']);
  assert.ok(service.spec.ports.every((p: { targetPort: string }) => p.targetPort === 'http'), 'the Service does not expose the admin port');
  // The backends come from DNS over a headless Service.
  const headless = kind('Service').find((s) => s.spec.clusterIP === 'None')!;
  const dns = new URL(config.backends[0]!.replace(/^dns\+/, ''));
  assert.equal(dns.hostname, headless.metadata.name, 'the Service\'s short name: the pod\'s namespace (kubectl -n) applies');
  for (const doc of docs) assert.equal(doc.metadata?.namespace, undefined, `${doc.kind} ${doc.metadata?.name}: no namespace of its own`);
  assert.doesNotMatch(file, /\.svc\.cluster\.local|\bdefault\b/, 'no namespace in the configuration');
  assert.equal(Number(dns.port), headless.spec.ports[0].port);
});
