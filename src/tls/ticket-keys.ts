import { randomBytes } from 'node:crypto';

/** Bytes of a session ticket key as Node takes it: a 16-byte name, a 16-byte HMAC key, a 16-byte AES key. */
export const TICKET_KEY_BYTES = 48;

/**
 * The TLS session ticket key of a process group. One process makes it (the cluster's primary, or
 * the balancer alone) and every TLS context of every worker encrypts and decrypts tickets with
 * it, so a session resumes whichever worker the kernel hands the connection to. A new key
 * replaces it every TLS_TICKET_ROTATION (12 h), so a stolen key opens only the sessions of one
 * period (forward secrecy of resumed sessions).
 *
 * node:cluster shares a key by itself (tls.Server hands its key to the primary when its worker
 * listens, and the primary hands it to the next), but never changes it for the primary's life,
 * a certificate reload (`setSecureContext`) gives each worker a new random key of its own (after
 * a reload, a session resumed on one worker in two failed), and a worker that starts after a
 * rotation would be given, as it listens, the first worker's key of long ago. So each worker
 * sets the key handed to it again after every reload and once it listens.
 *
 * Node's public API holds one ticket key per context (`setTicketKeys` takes 48 bytes, and a
 * ticket under another key name is refused): the previous key is not kept for decryption. Every
 * worker switches at the same time, and a ticket lives `sessionTimeout` (300 s in Node), so a
 * rotation costs one full handshake to the clients that got a ticket in the last five minutes
 * before it, twice a day. Keeping the previous key would take Node's internal ticket key
 * callback (`SecureContext.enableTicketKeyCallback`, kept for one regression test of Node's
 * own), which we do not reach into.
 */
export class TicketKeys {
  readonly #rotationMs: number;
  readonly #onChange: (keys: Buffer) => void;
  readonly #make: () => Buffer;
  #current: Buffer;
  #timer: NodeJS.Timeout | undefined;
  /** Rotations since start-up. */
  rotations = 0;

  constructor(rotationMs: number, onChange: (keys: Buffer) => void, make: () => Buffer = () => randomBytes(TICKET_KEY_BYTES)) {
    this.#rotationMs = rotationMs;
    this.#onChange = onChange;
    this.#make = make;
    this.#current = make();
  }

  /** The key in use now (48 bytes). */
  get current(): Buffer {
    return this.#current;
  }

  /** Hands the current key out now, then a new one every rotation period. */
  start(): void {
    this.#onChange(this.#current);
    this.#timer = setInterval(() => this.rotate(), this.#rotationMs);
    this.#timer.unref();
  }

  /** Replaces the key now and hands the new one out. */
  rotate(): void {
    this.#current = this.#make();
    this.rotations++;
    this.#onChange(this.#current);
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
