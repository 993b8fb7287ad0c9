export { ConfigError } from './errors.js';
export { parseDuration } from './duration.js';
export { SETTINGS } from './settings.js';
export type { Config, LogLevel, LogFormat, Setting } from './settings.js';
export { resolveConfig, envLayer, dotenvLayer, dotenvValues, flagLayer, fileLayer, objectLayer, isLoopback } from './load.js';
export type { Layer } from './load.js';
export { ineffectiveSettings, misspelledEnv } from './lint.js';
export type { Misspelling } from './lint.js';
