import { createHash, randomBytes } from 'node:crypto';

export const MiB = 1024 * 1024;

/** Random bytes, so that a shifted, dropped or repeated chunk cannot go unnoticed. */
export const PATTERN = randomBytes(4 * MiB);

export function sha(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Writes `total` bytes of PATTERN, honouring backpressure; `written` counts what each write callback confirmed. */
export function pump(out: NodeJS.WritableStream & { write(chunk: Buffer, cb: (err?: Error | null) => void): boolean }, total: number, progress: { written: number }): void {
  let queued = 0;
  const next = (): void => {
    while (queued < total) {
      const size = Math.min(64 * 1024, total - queued);
      const chunk = PATTERN.subarray(queued % PATTERN.length, (queued % PATTERN.length) + size);
      queued += size;
      const ok = out.write(chunk, (err) => { if (err == null) progress.written += size; });
      if (!ok) { out.once('drain', next); return; }
    }
    out.end();
  };
  next();
}
