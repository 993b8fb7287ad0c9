export { ConfigError } from './errors.js';
export { parseDuration } from './duration.js';
export { SETTINGS } from './settings.js';
export type { Config, LogLevel, LogFormat } from './settings.js';
export { resolveConfig, envLayer, dotenvLayer, flagLayer, fileLayer, objectLayer } from './load.js';
export type { Layer } from './load.js';
