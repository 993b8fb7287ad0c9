import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { startBackend, type TestBackend } from '../helpers/backend.js';
import { startRawBackend, type RawBackend } from '../helpers/raw-backend.js';

// Backends the conformance cases share: one that never answers, one that is not there, one that holds requests.

type Context = { after(fn: () => unknown): void };

/** A backend that reads requests and never answers. */
export async function hanging(t: Context): Promise<RawBackend> {
  const backend = await startRawBackend(() => undefined);
  t.after(() => backend.close());
  return backend;
}

/** The URL of a port nothing listens on (below the ephemeral range, so no other test gets it meanwhile). */
export async function refusing(): Promise<string> {
  const gone = await startRawBackend(() => undefined, 'dedicated');
  await gone.close();
  return gone.url;
}

/** A backend that holds every request until `release()`; after that it answers at once. */
export async function holding(t: Context): Promise<TestBackend & { release(): void }> {
  const held: ServerResponse[] = [];
  let holding = true;
  const backend = await startBackend('held', (req, res) => {
    req.resume();
    if (holding) held.push(res);
    else res.end(req.url);
  });
  t.after(() => backend.close());
  return Object.assign(backend, {
    release() {
      holding = false;
      for (const res of held.splice(0)) res.end(res.req.url);
    },
  });
}

/**
 * A backend that answers every request with `total` bytes, written as fast as its socket takes
 * them; `cutEarly()` resolves, once a response has closed, with whether it closed before all of
 * it was written (the balancer stopped the transfer).
 */
export async function big(t: Context, total: number): Promise<TestBackend & { cutEarly(): Promise<boolean> }> {
  let closed: Promise<boolean> | undefined;
  const chunk = Buffer.alloc(64 * 1024, 120);
  const backend = await startBackend('big', (req, res) => {
    req.resume();
    res.setHeader('content-length', total);
    let written = 0;
    const pump = (): void => {
      while (written < total) {
        written += chunk.length;
        if (!res.write(chunk)) { res.once('drain', pump); return; }
      }
      res.end();
    };
    closed = once(res, 'close').then(() => !res.writableFinished);
    pump();
  });
  t.after(() => backend.close());
  return Object.assign(backend, { cutEarly: () => closed ?? Promise.reject(new Error('no request reached the backend')) });
}
