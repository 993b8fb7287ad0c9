// @engine-independent: it packs and installs the package and runs the installed command as a user would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { get } from './helpers/http.js';
import { startBackends } from './helpers/backend.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

test('the package builds when packed, not when installed; it ships its MIT licence', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { license: string; scripts: Record<string, string> };
  // A `prepare` script ships in the package and npm 11 warns about it on install; `prepack` runs
  // only where the tarball is made (npm pack, npm publish).
  assert.equal(pkg.scripts.prepare, undefined, 'no prepare script');
  assert.match(pkg.scripts.prepack ?? '', /npm run build/, 'npm pack builds first');
  // A fresh clone's `npm install && npm start` and `npm test` build on their own.
  assert.match(pkg.scripts.start ?? '', /^npm run build\b/, 'npm start builds first');
  assert.equal(pkg.scripts.test, 'node scripts/test.mjs');
  assert.match(readFileSync(join(ROOT, 'scripts/test.mjs'), 'utf8'), /spawnSync\('npm', \['run', 'build'/, 'npm test builds first');
  assert.equal(pkg.license, 'MIT');
  const license = readFileSync(join(ROOT, 'LICENSE'), 'utf8');
  assert.match(license, /^MIT License\n\nCopyright \(c\) 2026 load-balancer contributors\n/);
  assert.match(license, /THE SOFTWARE IS PROVIDED "AS IS"/);
  const packed = JSON.parse(execFileSync(NPM, ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' })) as { files: { path: string }[] }[];
  assert.ok(packed[0]!.files.some((f) => f.path === 'LICENSE'), 'LICENSE ships');
  assert.match(readFileSync(join(ROOT, '.gitignore'), 'utf8'), /^\*\.tgz$/m, 'packed tarballs are not committed');
});

test('the package a user installs: only what is meant to ship; lb runs and proxies; it imports from ESM and type-checks from TypeScript', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lb-package-'));
  // --ignore-scripts: the build is the test command's (prepack would rebuild dist under the running tests).
  const packed = JSON.parse(execFileSync(NPM, ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8' })) as
    { filename: string; size: number; unpackedSize: number; files: { path: string }[] }[];
  const { filename, size, files } = packed[0]!;
  const paths = files.map((f) => f.path);
  t.diagnostic(`${filename}: ${size} bytes packed, ${paths.length} files`);
  for (const path of paths) {
    assert.doesNotMatch(path, /(^|\/)test\/|\.test\.|^bench\/|\.map$|^\.ci\/|^docs\/|tsconfig|\.ts$(?<!\.d\.ts$)/, `${path} is not meant to ship`);
  }
  for (const needed of ['dist/src/cli.js', 'dist/src/index.js', 'dist/src/index.d.ts', 'assets/dashboard/index.html', 'README.md', 'package.json']) {
    assert.ok(paths.includes(needed), `${needed} ships`);
  }

  // An empty project installs the tarball; its dependencies come from the registry, as for any user.
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }));
  execFileSync(NPM, ['install', '--no-audit', '--no-fund', '--loglevel=error', join(dir, filename)], { cwd: dir, stdio: 'ignore' });
  const lb = join(dir, 'node_modules', '.bin', 'lb');
  assert.equal(execFileSync(lb, ['--version'], { cwd: dir, encoding: 'utf8' }).trim(), PKG.version);
  assert.match(execFileSync(lb, ['--help'], { cwd: dir, encoding: 'utf8' }), /^Usage: lb /m);
  // The bin named like the package is what `npx l7-balancer` runs without an install.
  assert.equal(execFileSync(join(dir, 'node_modules', '.bin', PKG.name), ['--version'], { cwd: dir, encoding: 'utf8' }).trim(), PKG.version);

  // The installed lb proxies a plain backend.
  const [a] = await startBackends(t, undefined, ['a']);
  const proc = spawn(lb, [], { cwd: dir, env: { PATH: process.env.PATH ?? '', BACKENDS: a!.url, PORT: '0', HOST: '127.0.0.1' }, stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => proc.kill('SIGKILL'));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const line = out.split('\n').find((l) => l.includes('"msg":"listening"'));
      if (line !== undefined) resolve((JSON.parse(line) as { port: number }).port);
    });
    proc.once('exit', (code) => reject(new Error(`lb exited (${code}): ${out}`)));
  });
  assert.equal((await get(`http://127.0.0.1:${port}/`)).body, 'a');
  proc.kill('SIGTERM');

  // An ES module imports the library by its name.
  const esm = execFileSync(process.execPath, ['--input-type=module', '-e',
    `import { createLoadBalancer, SETTINGS } from '${PKG.name}'; const lb = createLoadBalancer({ backends: ['http://127.0.0.1:1'] }); console.log(typeof lb.start, SETTINGS.length > 0);`,
  ], { cwd: dir, encoding: 'utf8' });
  assert.equal(esm.trim(), 'function true');
  const kit = execFileSync(process.execPath, ['--input-type=module', '-e', `import { Scenario } from '${PKG.name}/testing'; console.log(typeof Scenario.start);`], { cwd: dir, encoding: 'utf8' });
  assert.equal(kit.trim(), 'function');

  // A TypeScript consumer type-checks against the shipped declarations.
  writeFileSync(join(dir, 'consumer.ts'), [
    `import { createLoadBalancer, type Strategy, type BackendState } from '${PKG.name}';`,
    'const first: Strategy = { name: \'first\', pick: (snapshot) => snapshot[0] };',
    'const lb = createLoadBalancer({ backends: [\'http://127.0.0.1:1\'], strategy: first });',
    'const states: BackendState[] = lb.pool.backends.map((b) => b.state);',
    'void lb.start().then((address) => address.port + states.length);',
    `import { Scenario, type LoadResult } from '${PKG.name}/testing';`,
    'const check = (r: LoadResult): number => r.errors;',
    'void Scenario.start({ backends: [\'a\'] }).then(async (s) => { check(await s.load({ requests: 1 })); await s.stop(); });',
    '',
  ].join('\n'));
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, types: ['node'], typeRoots: [join(ROOT, 'node_modules', '@types')] },
    files: ['consumer.ts'],
  }));
  execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { cwd: dir, encoding: 'utf8' });
});
