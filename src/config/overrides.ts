import { show } from './errors.js';
import type { Layer } from './load.js';
import { SETTINGS } from './settings.js';

/**
 * Settings a config file gives that the environment (or `.env`) overrides with another value.
 * The environment wins over a file, so without a word a file's `port` loses to a `PORT` an
 * image or a shell exported long ago; one warning per setting names both values.
 * File layers are the ones whose values are not text; flags (`--port`) are asked for on the
 * command line and are not reported.
 */
export function environmentOverrides(layers: readonly Layer[]): string[] {
  const warnings: string[] = [];
  for (const setting of SETTINGS) {
    let file: { layer: Layer; value: unknown } | undefined;
    let env: { layer: Layer; value: unknown } | undefined;
    for (const layer of layers) {
      if (!layer.values.has(setting.key)) continue;
      const value = layer.values.get(setting.key);
      if (!layer.text) {
        file = { layer, value };
        env = undefined;
      } else if (file !== undefined && !layer.label(setting).startsWith('--')) {
        env = { layer, value };
      }
    }
    if (file === undefined || env === undefined || same(setting.parse, file.value, env.value)) continue;
    // Labels are `PORT`, `PORT in .env` and `port in lb.yaml`: the values go after the names.
    const envWhere = env.layer.label(setting).slice(setting.env.length) || ' in the environment';
    const fileWhere = file.layer.label(setting).slice(setting.key.length);
    warnings.push(`${setting.env}=${String(env.value)}${envWhere} overrides ${setting.key}: ${show(file.value)}${fileWhere} (the environment wins over a config file)`);
  }
  return warnings;
}

function same(parse: (value: unknown, text: boolean) => unknown, fromFile: unknown, fromEnv: unknown): boolean {
  try {
    return JSON.stringify(parse(fromFile, false)) === JSON.stringify(parse(fromEnv, true));
  } catch {
    return false;
  }
}
