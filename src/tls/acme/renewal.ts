import { X509Certificate } from 'node:crypto';

/** Jitter: a certificate is renewed up to this share of its lifetime before two thirds of it. */
export const RENEW_JITTER = 0.05;
/** Longest wait after failed orders. */
export const MAX_BACKOFF_MS = 24 * 3_600_000;

/** What the renewal schedule needs of a certificate. */
export interface Validity {
  readonly notBefore: number;
  readonly notAfter: number;
  readonly serial: string;
}

/** The leaf's validity (ms since the epoch) and serial; undefined when the PEM does not parse. */
export function validity(certPem: string): Validity | undefined {
  try {
    const leaf = new X509Certificate(certPem);
    return { notBefore: Date.parse(leaf.validFrom), notAfter: Date.parse(leaf.validTo), serial: leaf.serialNumber };
  } catch {
    return undefined;
  }
}

/**
 * When a certificate is due: at two thirds of its lifetime (30 days before the end of a 90-day
 * one, as certbot and Caddy do), earlier by a random part of up to 5% of the lifetime so that
 * many instances or names do not all order at once. `random` is in [0, 1).
 */
export function renewAt(v: Pick<Validity, 'notBefore' | 'notAfter'>, random: number): number {
  const lifetime = Math.max(0, v.notAfter - v.notBefore);
  return v.notBefore + (lifetime * 2) / 3 - lifetime * RENEW_JITTER * random;
}

/**
 * The wait before trying again after `failures` failed orders in a row: the check interval,
 * doubled per failure, at most a day (Let's Encrypt allows 5 failed validations per name per
 * hour; this stays well under it). `random` in [0, 1) takes up to a quarter off.
 */
export function backoff(failures: number, checkMs: number, random: number): number {
  const base = Math.min(MAX_BACKOFF_MS, checkMs * 2 ** Math.min(Math.max(failures - 1, 0), 20));
  return base * (1 - 0.25 * random);
}
