import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBackend, type Handler, type TestBackend } from './backend.js';
import { get } from './http.js';
import { startLb, type RunningLb } from './lb.js';

/** Answers JSON: the path, method, headers and body the backend got. */
export const echo: Handler = (req, res, backend) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ name: backend.name, url: req.url, method: req.method, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') }));
  });
};

export interface Echo { name: string; url: string; method: string; headers: Record<string, string>; body: string }

export async function echoBackend(t: { after(fn: () => unknown): void }): Promise<TestBackend> {
  const b = await startBackend('app', echo);
  t.after(() => b.close());
  return b;
}

/** A balancer started with `lb.yaml` (written in a fresh folder with `files`), its admin API on. */
export async function startWithConfig(t: { after(fn: () => unknown): void }, yaml: string, files: Record<string, string> = {}, env: Record<string, string> = {}): Promise<RunningLb & { dir: string; admin: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'lb-auth-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  writeFileSync(join(dir, 'lb.yaml'), yaml);
  const lb = await startLb({ ADMIN_PORT: '0', HEALTH_CHECK_TIMEOUT: '10s', ...env }, { args: ['--config', join(dir, 'lb.yaml')], cwd: dir });
  t.after(() => lb.stop());
  const line = await lb.waitForLog((l) => l.msg === 'admin listening');
  return Object.assign(lb, { dir, admin: `http://127.0.0.1:${line.port as number}` });
}

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

export async function ask(port: number, path: string, headers: Record<string, string> = {}, options: { method?: string; body?: string } = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string; echo?: Echo }> {
  const res = await get(`http://127.0.0.1:${port}${path}`, { headers, ...options });
  return { status: res.status, headers: res.headers, body: res.body, echo: res.headers['content-type'] === 'application/json' ? JSON.parse(res.body) as Echo : undefined };
}

/** The value of one series of a Prometheus exposition (exact label text), undefined when absent. */
export async function metric(admin: string, series: string): Promise<number | undefined> {
  const text = (await get(`${admin}/metrics`)).body;
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

