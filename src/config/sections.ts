import type { Setting } from './settings.js';

/**
 * The sections `--help` and the README's configuration table group the settings in, each with
 * the first parts of the keys it holds (`tls` holds `tls.cert` and `tls.key`).
 */
export const SECTIONS: readonly { readonly title: string; readonly keys: readonly string[] }[] = [
  { title: 'Listening', keys: ['port', 'host', 'tls', 'engine', 'workers', 'workerListen', 'acme'] },
  { title: 'Backends', keys: ['backends', 'proto', 'proxyProtocol', 'dns', 'backendTls', 'http'] },
  { title: 'Balancing', keys: ['strategy', 'shadowStrategies', 'strategyModule', 'hash', 'sticky', 'hooks', 'hookTimeout'] },
  { title: 'Health checks', keys: ['health'] },
  { title: 'Timeouts, retries and overload', keys: ['proxy', 'retry', 'outlier', 'backend', 'queue'] },
  { title: 'Client limits', keys: ['limits', 'websocket'] },
  { title: 'At the edge', keys: ['edge', 'rateLimit', 'compression'] },
  { title: 'Operations', keys: ['admin', 'stateFile', 'strict', 'shutdown', 'log'] },
  { title: 'Tracing', keys: ['tracing'] },
];

/** The title of the section a setting belongs to. */
export function sectionOf(setting: Setting): string {
  const head = setting.key.split('.')[0]!;
  const section = SECTIONS.find((s) => s.keys.includes(head));
  if (section === undefined) throw new Error(`setting ${setting.key} is in no section`);
  return section.title;
}
