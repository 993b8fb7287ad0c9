import { randomBytes, randomFillSync } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';
import { TICKET_KEY_BYTES } from './ticket-keys.js';

/** Bytes of each part of a ticket key: its name, its HMAC key, its AES key (Node's `setTicketKeys` order). */
const PART = 16;

/**
 * What the ticket key callback answers (Node's `SecureContext::TicketKeyCallback`): a result for
 * OpenSSL, the HMAC and AES keys (read even for 0, which must still carry two 16-byte buffers),
 * and when encrypting the key name and IV it copies into the ticket.
 */
type Answer = readonly [number, Buffer, Buffer] | readonly [number, Buffer, Buffer, Buffer, Buffer];

/** Node's native secure context (`SecureContext#context`), as far as ticket keys go. */
interface NativeContext {
  setTicketKeys(keys: Buffer): void;
  enableTicketKeyCallback?: () => void;
  onticketkeycallback?: (name: Buffer, iv: Buffer, encrypt: boolean) => Answer;
}

/** One ticket key cut into its parts (views of one buffer), with the answers that use it. */
interface Key {
  readonly bytes: Buffer;
  readonly name: Buffer;
  /** Decrypting a ticket under this key as the current one: accept it. */
  readonly accept: Answer;
  /** Decrypting under it as the previous one: accept it and issue a new ticket under the current key. */
  readonly renew: Answer;
}

function keyOf(bytes: Buffer): Key {
  const name = bytes.subarray(0, PART);
  const hmac = bytes.subarray(PART, 2 * PART);
  const aes = bytes.subarray(2 * PART, 3 * PART);
  return { bytes, name, accept: [1, hmac, aes], renew: [2, hmac, aes] };
}

let hook: boolean | undefined;

/**
 * Whether this Node.js has the ticket key callback on its secure contexts. It is internal (Node
 * keeps it for its own test test/parallel/test-https-resume-after-renew.js), so it is looked
 * for, not assumed; without it the previous key cannot be kept.
 */
export function ticketKeyHook(): boolean {
  hook ??= typeof (createSecureContext({ ca: [] }).context as NativeContext).enableTicketKeyCallback === 'function';
  return hook;
}

/**
 * The session ticket keys of every secure context the TLS listener serves: the current key,
 * which encrypts new tickets and decrypts, and the previous one, which still decrypts (the
 * ticket is then renewed under the current key), so a client that got its ticket just before
 * a rotation resumes after it. Tickets under any older key are refused (a full handshake).
 *
 * Every context of a listener is given to `install`. Tickets are made and read on the server's
 * own context (measured on Node 20, 24 and 26, even when SNI chose another), but Node finds the
 * JavaScript callback on the handshake's current context (`SSL_get_SSL_CTX`), which a later Node
 * could make the SNI one: every context carries it rather than depending on that. With the
 * hook, a rotation touches no context (the callback reads the keys here); without it (see
 * ticketKeyHook), each context is given the current key (`setTicketKeys`), again at each
 * rotation, and the previous key is lost.
 *
 * The callback runs on every handshake that issues or presents a ticket: it allocates nothing of
 * its own (answers made once per key, one IV buffer filled in place, which Node copies at once).
 */
export class SessionTickets {
  readonly #hook: boolean;
  #current: Key;
  #previous: Key | undefined;
  readonly #iv = Buffer.alloc(PART);
  #issue: Answer;
  /** Refusing a ticket: Node still reads two keys from the answer. */
  #refuse: Answer;
  /** Without the hook: the contexts given the current key, to be given the next. */
  readonly #contexts = new Set<WeakRef<NativeContext>>();

  /**
   * Starts with a random key of its own (until `set`). `hook`: whether to use the ticket key
   * callback (default: when Node has it); false for tests of the fallback.
   */
  constructor(hook: boolean = ticketKeyHook()) {
    this.#hook = hook;
    this.#current = keyOf(randomBytes(TICKET_KEY_BYTES));
    this.#issue = this.#issuing();
    this.#refuse = this.#refusing();
  }

  /** Whether the previous key is kept (the ticket key callback is used). */
  get keepsPrevious(): boolean {
    return this.#hook;
  }

  /**
   * Takes new keys: 48 bytes (the current key) or 96 (the current, then the previous), each a
   * 16-byte name, HMAC key and AES key. New handshakes use them at once.
   */
  set(keys: Buffer): void {
    if (keys.length !== TICKET_KEY_BYTES && keys.length !== 2 * TICKET_KEY_BYTES) {
      throw new RangeError(`session ticket keys: expected ${TICKET_KEY_BYTES} or ${2 * TICKET_KEY_BYTES} bytes, got ${keys.length}`);
    }
    // A copy: the caller's buffer may be reused, and views of it would change under OpenSSL.
    const copy = Buffer.from(keys);
    this.#current = keyOf(copy.subarray(0, TICKET_KEY_BYTES));
    this.#previous = copy.length > TICKET_KEY_BYTES ? keyOf(copy.subarray(TICKET_KEY_BYTES)) : undefined;
    this.#issue = this.#issuing();
    this.#refuse = this.#refusing();
    if (this.#hook) return;
    for (const ref of this.#contexts) {
      const native = ref.deref();
      if (native === undefined) this.#contexts.delete(ref);
      else native.setTicketKeys(this.#current.bytes);
    }
  }

  /** Gives `context` these keys: the callback, or without the hook the current key. */
  install(context: SecureContext): void {
    const native = context.context as NativeContext;
    if (this.#hook && typeof native.enableTicketKeyCallback === 'function') {
      native.enableTicketKeyCallback();
      native.onticketkeycallback = this.#callback;
      return;
    }
    native.setTicketKeys(this.#current.bytes);
    this.#contexts.add(new WeakRef(native));
  }

  /** Node's ticket key callback (`name` and `iv` are the ticket's when decrypting). */
  readonly #callback = (name: Buffer, _iv: Buffer, encrypt: boolean): Answer => {
    if (encrypt) {
      randomFillSync(this.#iv);
      return this.#issue;
    }
    if (name.equals(this.#current.name)) return this.#current.accept;
    const previous = this.#previous;
    if (previous !== undefined && name.equals(previous.name)) return previous.renew;
    return this.#refuse;
  };

  /** The answer that issues a ticket under the current key (the IV filled per ticket). */
  #issuing(): Answer {
    const [, hmac, aes] = this.#current.accept;
    return [1, hmac, aes, this.#current.name, this.#iv];
  }

  /** The answer that refuses a ticket (any 16-byte keys would do: OpenSSL is told not to use them). */
  #refusing(): Answer {
    const [, hmac, aes] = this.#current.accept;
    return [0, hmac, aes];
  }
}
