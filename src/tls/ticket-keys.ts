import { randomBytes } from 'node:crypto';

/** Bytes of a session ticket key as Node takes it: a 16-byte name, a 16-byte HMAC key, a 16-byte AES key. */
export const TICKET_KEY_BYTES = 48;

/**
 * The TLS session ticket keys of a process group. One process makes them (the cluster's primary,
 * or the balancer alone) and every TLS context of every worker encrypts and decrypts tickets with
 * them, so a session resumes whichever worker the kernel hands the connection to. A new key
 * replaces the current one every TLS_TICKET_ROTATION (12 h), and the one it replaces is kept one
 * more period for decryption only (SessionTickets), so a ticket issued just before a rotation
 * still resumes after it; a stolen key opens only the sessions of two periods (forward secrecy of
 * resumed sessions).
 *
 * node:cluster shares a key by itself (tls.Server hands its key to the primary when its worker
 * listens, and the primary hands it to the next), but never changes it for the primary's life,
 * a certificate reload (`setSecureContext`) gives each worker a new random key of its own (after
 * a reload, a session resumed on one worker in two failed), and a worker that starts after a
 * rotation would be given, as it listens, the first worker's key of long ago. So each worker
 * uses the keys handed to it on every context, and the handed keys win over node:cluster's.
 */
export class TicketKeys {
  readonly #rotationMs: number;
  readonly #onChange: (keys: Buffer) => void;
  readonly #make: () => Buffer;
  #current: Buffer;
  /** The current key, then the previous one once there is one (what is handed out). */
  #keys: Buffer;
  #timer: NodeJS.Timeout | undefined;
  /** Rotations since start-up. */
  rotations = 0;

  constructor(rotationMs: number, onChange: (keys: Buffer) => void, make: () => Buffer = () => randomBytes(TICKET_KEY_BYTES)) {
    this.#rotationMs = rotationMs;
    this.#onChange = onChange;
    this.#make = make;
    this.#current = this.#keys = make();
  }

  /** The key in use now (48 bytes). */
  get current(): Buffer {
    return this.#current;
  }

  /** The keys to hand out: the current one (48 bytes), then after a rotation the previous one (96 in all). */
  get keys(): Buffer {
    return this.#keys;
  }

  /** Hands the keys out now, then again with a new current key every rotation period. */
  start(): void {
    this.#onChange(this.#keys);
    this.#timer = setInterval(() => this.rotate(), this.#rotationMs);
    this.#timer.unref();
  }

  /** Makes a new current key now, keeps the one it replaces as the previous, and hands both out. */
  rotate(): void {
    const previous = this.#current;
    this.#current = this.#make();
    this.#keys = Buffer.concat([this.#current, previous]);
    this.rotations++;
    this.#onChange(this.#keys);
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
