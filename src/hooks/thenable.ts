/** True for a promise or anything with a `then` (the only check made on a phase's return value). */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as { then?: unknown }).then === 'function';
}

/** What a hook threw or rejected with, in one line for the log. */
export function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
