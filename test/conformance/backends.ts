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
