export { ConfigError } from './errors.js';
export { parseDuration } from './duration.js';
export { SECTIONS, SETTINGS, sectionOf } from './settings.js';
export type { Config, LogLevel, LogFormat, Setting } from './settings.js';
export { resolveConfig, envLayer, dotenvLayer, dotenvValues, flagLayer, fileLayer, objectLayer, isLoopback } from './load.js';
export type { Layer } from './load.js';
export { editDistance, ineffectiveSettings, misspelledEnv } from './lint.js';
export type { Misspelling } from './lint.js';
export { redact, redactConfig, REDACTED } from './redact.js';
