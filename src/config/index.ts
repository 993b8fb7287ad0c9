export { ConfigError } from './errors.js';
export { parseDuration } from './duration.js';
export { SETTINGS } from './settings.js';
export type { Config, LogLevel, LogFormat, Setting } from './settings.js';
export { resolveConfig, envLayer, dotenvLayer, flagLayer, fileLayer, objectLayer, isLoopback } from './load.js';
export type { Layer } from './load.js';
