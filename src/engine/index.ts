export { FastEngine } from './fast-engine.js';
export type { FastEngineOptions } from './fast-engine.js';
