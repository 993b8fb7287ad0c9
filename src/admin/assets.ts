import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';

interface Asset {
  readonly type: string;
  readonly body: Buffer;
  readonly gzip: Buffer;
}

const require = createRequire(import.meta.url);
const DIR = new URL('../../../assets/dashboard/', import.meta.url);

/** The dashboard's files, by path: everything it needs comes from the balancer (no CDN). */
const FILES: Readonly<Record<string, { file: () => string; type: string }>> = {
  '/': { file: () => new URL('index.html', DIR).pathname, type: 'text/html; charset=utf-8' },
  '/dashboard.js': { file: () => new URL('dashboard.js', DIR).pathname, type: 'text/javascript; charset=utf-8' },
  '/actions.js': { file: () => new URL('actions.js', DIR).pathname, type: 'text/javascript; charset=utf-8' },
  '/dashboard.css': { file: () => new URL('dashboard.css', DIR).pathname, type: 'text/css; charset=utf-8' },
  '/uplot.js': { file: () => require.resolve('uplot/dist/uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  '/uplot.css': { file: () => require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

const cache = new Map<string, Asset>();

/** Answers a request for one of the dashboard's files (read and compressed once); false for any other path. */
export function serveAsset(path: string, res: ServerResponse): boolean {
  const spec = FILES[path];
  if (spec === undefined) return false;
  let asset = cache.get(path);
  if (asset === undefined) {
    const body = readFileSync(spec.file());
    asset = { type: spec.type, body, gzip: gzipSync(body, { level: 9 }) };
    cache.set(path, asset);
  }
  const gzip = /\bgzip\b/.test(String(res.req.headers['accept-encoding'] ?? ''));
  const body = gzip ? asset.gzip : asset.body;
  res.writeHead(200, {
    'content-type': asset.type,
    'content-length': body.length,
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
    ...(gzip ? { 'content-encoding': 'gzip', vary: 'accept-encoding' } : {}),
    ...(path === '/' ? { 'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:" } : {}),
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
  return true;
}
