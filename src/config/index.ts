export { ConfigError } from './errors.js';
export { parseDuration, formatDuration } from './duration.js';
export { SETTINGS, DEFAULT_BACKENDS, LOG_LEVELS, LOG_FORMATS } from './settings.js';
export type { Config, Setting, LogLevel, LogFormat } from './settings.js';
export { resolveConfig, envLayer, dotenvLayer, flagLayer, fileLayer, objectLayer } from './load.js';
export type { Layer } from './load.js';
