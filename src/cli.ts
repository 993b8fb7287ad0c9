#!/usr/bin/env node
import { resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { LoadBalancer } from './app/load-balancer.js';
import { VERSION } from './version.js';
import { DEFAULT_POOL, type PoolConfig } from './config/pools.js';
import { RouteTable } from './routing/index.js';
import { createLogger } from './app/logger.js';
import { exitCannotStart, handleSignals } from './app/signals.js';
import { isWorker, runPrimary, runWorker, workerCount } from './app/cluster.js';
import { loadStrategyModule, strategyNames, type Strategy } from './balancer/index.js';
import { StrategyModuleError } from './balancer/module.js';
import { HookModuleError, loadHookModule } from './hooks/index.js';
import { ConfigError, dotenvLayer, dotenvValues, editDistance, envLayer, fileLayer, flagLayer, ineffectiveSettings, misspelledEnv, resolveConfig, SECTIONS, sectionOf, SETTINGS, type Config, type Layer } from './config/index.js';
import { environmentOverrides } from './config/overrides.js';
import { acmeOn } from './tls/acme/names.js';

const EXIT_USAGE = 2;

function usage(): string {
  const width = Math.max(...SETTINGS.map((s) => s.flag.length)) + 10;
  const lines = [
    'lb: a Layer 7 HTTP load balancer',
    '',
    'Usage: lb [--config FILE] [--setting value ...]',
    '',
    'Every setting can come from (lowest to highest precedence): its default, a config file',
    '(--config, YAML or JSON, nested keys), a .env file in the working directory, the environment,',
    'and a flag. Durations are Go-style: 250ms, 10s, 1m30s.',
    '',
    'Options:',
    `  ${'-c, --config FILE'.padEnd(width)}read settings from a YAML or JSON file`,
    `  ${'--check'.padEnd(width)}check the configuration (print its warnings and the listeners), then exit: 0 valid, 2 not`,
    `  ${'-h, --help'.padEnd(width)}show this help`,
    `  ${'-v, --version'.padEnd(width)}print the version`,
    '',
    'Settings, by section (flag, environment variable / config-file key; then what it does and its default):',
  ];
  for (const section of SECTIONS) {
    lines.push('', `${section.title}:`);
    for (const s of SETTINGS) {
      if (sectionOf(s) !== section.title) continue;
      const extra = s.key === 'strategy' ? ` One of: ${strategyNames().join(', ')}.` : '';
      lines.push(`  ${`--${s.flag} VALUE`.padEnd(width)}${s.env} / ${s.key}`, `      ${s.help}${extra} Default: ${s.defaultText}.`);
    }
  }
  lines.push('', 'Exit codes: 0 clean stop, 1 runtime failure, 2 bad configuration or usage.');
  return lines.join('\n');
}

/** `parseArgs`' complaint on one line, with the flag probably meant when an option is unknown. */
function usageError(err: Error, flags: readonly string[]): ConfigError {
  const first = err.message.split('\n')[0]!;
  const unknown = /^Unknown option '--([^'=]+)'/.exec(first)?.[1];
  const [, head] = /^(Unknown option '[^']+')/.exec(first) ?? [undefined, first.replace(/\. To specify a positional argument.*$/, '')];
  if (unknown === undefined) return new ConfigError(`${head} (see lb --help)`);
  let best = '';
  let distance = Infinity;
  for (const flag of flags) {
    const d = flag.startsWith(unknown) || unknown.startsWith(flag) ? Math.abs(flag.length - unknown.length) : editDistance(unknown, flag);
    if (d < distance) { distance = d; best = flag; }
  }
  const close = distance <= Math.max(1, Math.floor(unknown.length / 4));
  return new ConfigError(`${head}${close ? `: did you mean --${best}?` : ''} (see lb --help)`);
}

function parse(argv: string[]): { help: boolean; version: boolean; check: boolean; layers: Layer[]; reread: () => Layer[]; files: string[] } {
  const options: NonNullable<ParseArgsConfig['options']> = {
    config: { type: 'string', short: 'c' },
    check: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean', short: 'v' },
  };
  for (const s of SETTINGS) options[s.flag] = { type: 'string' };
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
  } catch (err) {
    throw usageError(err as Error, Object.keys(options));
  }
  const file = typeof values.config === 'string' ? values.config : undefined;
  // The environment and flags are the process's own: a reload reads the files again.
  const env = envLayer(process.env);
  const flags = flagLayer(values);
  const reread = (): Layer[] => {
    const layers: Layer[] = [];
    if (file !== undefined) layers.push(fileLayer(file));
    const dotenv = dotenvLayer(process.cwd());
    if (dotenv !== undefined) layers.push(dotenv);
    layers.push(env, flags);
    return layers;
  };
  const files = [...(file === undefined ? [] : [resolve(file)]), resolve('.env')];
  return { help: values.help === true, version: values.version === true, check: values.check === true, layers: reread(), reread, files };
}

/** Where the balancer will listen, as `lb --check` prints it: `http 0.0.0.0:8080, admin 127.0.0.1:9901`. */
function listeners(config: Config): string {
  const at = (host: string, port: number): string => `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const tls = config.tls.cert !== undefined || acmeOn(config);
  const list = [`${tls ? 'https' : 'http'} ${at(config.host, config.port)}`];
  if (tls && config.tls.httpPort !== undefined) list.push(`http ${at(config.host, config.tls.httpPort)}`);
  list.push(config.admin.port === undefined ? 'admin off' : `admin ${at(config.admin.host, config.admin.port)}`);
  return list.join(', ');
}

/** A pool's health checks as `lb --check` names them when they are not the default GET: `, grpc health checks of "my.Service"`. */
function healthCheck(pool: PoolConfig): string {
  if (pool.health.type !== 'grpc') return '';
  return `, grpc health checks of ${pool.health.service === '' ? 'the server' : JSON.stringify(pool.health.service)}`;
}

async function main(): Promise<void> {
  if (isWorker()) {
    await runWorker();
    return;
  }
  let lb: LoadBalancer;
  try {
    const args = parse(process.argv.slice(2));
    if (args.help) { process.stdout.write(`${usage()}\n`); return; }
    if (args.version) { process.stdout.write(`${VERSION}\n`); return; }
    const config = resolveConfig(args.layers, strategyNames());
    const misspelt = [...misspelledEnv(process.env), ...misspelledEnv(dotenvValues(process.cwd()) ?? {}, '.env')];
    if (config.strict && misspelt.length > 0) {
      const m = misspelt[0]!;
      throw new ConfigError(`unknown setting ${m.name} in the ${m.source} (STRICT_ENV is on): did you mean ${m.suggestion}?`);
    }
    const warnings = [
      ...misspelt.map((m) => `${m.name} in the ${m.source} is not a setting: did you mean ${m.suggestion}? (STRICT_ENV=true makes this an error)`),
      ...environmentOverrides(args.layers),
      ...ineffectiveSettings(config, args.layers),
      ...RouteTable.compile(config.routes).unreachable,
    ];
    let strategy: Strategy | undefined;
    if (config.strategyModule !== undefined) {
      try {
        strategy = await loadStrategyModule(config.strategyModule, { hashKey: config.hash.key, loadFactor: config.hash.loadFactor, fallback: config.hash.fallback });
      } catch (err) {
        if (!(err instanceof StrategyModuleError)) throw err;
        throw new ConfigError(`invalid strategy module ${JSON.stringify(config.strategyModule)}: ${err.message}`);
      }
    }
    if (args.check) {
      // Hook modules are loaded as start-up would load them: one that cannot be is a configuration error.
      for (const path of new Set([...config.hooks, ...config.routes.flatMap((r) => r.hooks ?? [])])) {
        try {
          await loadHookModule(path, { log: createLogger({ ...config.log, level: 'silent' }) }, 0);
        } catch (err) {
          if (!(err instanceof HookModuleError)) throw err;
          throw new ConfigError(err.message);
        }
      }
      for (const warning of warnings) process.stderr.write(`lb: warning: ${warning}\n`);
      const entries = config.pools.reduce((n, p) => n + p.backends.length, 0);
      process.stdout.write(`configuration OK: ${entries} backend entr${entries === 1 ? 'y' : 'ies'}${config.pools.length === 1 ? `, strategy ${strategy?.name ?? config.pools[0]!.strategy}${healthCheck(config.pools[0]!)}` : ''}\n`);
      if (config.pools.length > 1 || config.pools[0]?.name !== DEFAULT_POOL) {
        process.stdout.write(`pools: ${config.pools.map((p) => `${p.name} (${p.backends.length} backend entr${p.backends.length === 1 ? 'y' : 'ies'}, ${p.strategy}${healthCheck(p)})`).join(', ')}\n`);
      }
      if (config.routes.length > 0) {
        const table = RouteTable.compile(config.routes);
        process.stdout.write(`routes (${config.routes.length}, in the order they are tried; unmatched requests: ${config.pools.some((p) => p.name === DEFAULT_POOL) ? 'the default pool' : '404'}):\n${table.describe()}\n`);
      }
      process.stdout.write(`listeners: ${listeners(config)}\n`);
      return;
    }
    if (workerCount(config) > 0) {
      const log = createLogger(config.log);
      for (const warning of warnings) log.warn(warning);
      await runPrimary(config, log, { loadConfig: () => resolveConfig(args.reread(), strategyNames()), watch: args.files });
      return;
    }
    lb = new LoadBalancer(config, { strategy, loadConfig: () => resolveConfig(args.reread(), strategyNames()), watch: args.files });
    for (const warning of warnings) lb.log.warn(warning);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`lb: ${err.message}\n`);
    process.exitCode = EXIT_USAGE;
    return;
  }
  handleSignals(lb);
  try {
    await lb.start();
  } catch (err) {
    if (err instanceof HookModuleError) {
      // A module that cannot be loaded is a configuration error, as a bad STRATEGY_MODULE is.
      process.stderr.write(`lb: ${err.message}\n`);
      process.exit(EXIT_USAGE);
    }
    exitCannotStart(lb.log, err as NodeJS.ErrnoException);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`lb: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
