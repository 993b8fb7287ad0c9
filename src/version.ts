import { readFileSync } from 'node:fs';

/** The package's version, from its package.json. */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** When this process started, in ms since the epoch. */
export const STARTED_AT: number = Date.now() - Math.round(process.uptime() * 1000);
