import { closeSync, fstatSync, openSync, writeSync } from 'node:fs';

export interface LogDestinationOptions {
  /** Bytes buffered before a write (nginx's `access_log ... buffer=`). */
  readonly batchBytes?: number;
  /** Milliseconds a line may wait in the buffer on a quiet balancer (nginx's `flush=`). */
  readonly flushInterval?: number;
  /** Bytes kept while the destination refuses writes (a full non-blocking pipe); lines beyond are dropped and counted. */
  readonly maxBufferedBytes?: number;
  /** The logger's own fields, as JSON members (`"pid":1,"hostname":"h"`), for the lines this destination writes itself. */
  readonly fields?: string;
}

/** A producer of lines formatted lazily (see `LogDestination#defer`). */
export interface DeferredLines {
  drain(): void;
}

/**
 * Destinations not yet ended: written out when the process exits, an uncaught exception
 * included, so that what they hold is not lost with it.
 */
const live = new Set<LogDestination>();
process.on('exit', () => {
  for (const destination of live) destination.flushSync();
});

/** Linux's PIPE_BUF: a write to a pipe up to this size is never interleaved with another process's. */
const PIPE_ATOMIC_BYTES = 4096;

/**
 * The log destination: lines are encoded into one reusable buffer and written out together, by a
 * plain synchronous `write(2)` once the batch is full or the flush interval passes, like nginx's
 * buffered access log. A line costs a string encode; the system call is shared by the batch.
 *
 * pino's own asynchronous destination measures its whole pending string on every line (about
 * 2 µs per line at our line size, the largest cost of the access log); this one does not, keeps
 * lines in order across pino and the access log (both write here), and bounds its memory: when
 * a non-blocking pipe stops accepting, lines wait up to `maxBufferedBytes`, then are dropped and
 * counted, and the count is logged once writes succeed again. Into a pipe, each write is whole
 * lines of at most 4 KiB, so cluster workers sharing it never interleave within a line.
 */
export class LogDestination {
  readonly fd: number;
  readonly #batchBytes: number;
  readonly #maxBuffered: number;
  readonly #pipe: boolean;
  readonly #ownsFd: boolean;
  readonly #timer: NodeJS.Timeout;
  readonly #fields: string;
  #buffer: Buffer;
  #length = 0;
  #dropped = 0;
  #droppedTotal = 0;
  #failed = false;
  /** The destination refused the last write (EAGAIN): retried by the timer, not by every line. */
  #blocked = false;
  #closed = false;
  /** Producers holding lines not yet formatted (see `defer`). */
  readonly #deferred = new Set<DeferredLines>();

  /** `destination`: a file descriptor (standard output by default) or a path, appended to. */
  constructor(destination: number | string = 1, options: LogDestinationOptions = {}) {
    this.#ownsFd = typeof destination === 'string';
    this.fd = typeof destination === 'string' ? openSync(destination, 'a') : destination;
    this.#batchBytes = options.batchBytes ?? 8 * 1024;
    const fields = options.fields ?? `"pid":${process.pid}`;
    this.#fields = fields === '' ? '' : `,${fields}`;
    this.#maxBuffered = Math.max(this.#batchBytes * 2, options.maxBufferedBytes ?? 1024 * 1024);
    this.#buffer = Buffer.allocUnsafe(this.#batchBytes * 4);
    let pipe = false;
    try {
      const stat = fstatSync(this.fd);
      pipe = stat.isFIFO() || stat.isSocket();
    } catch {
      // An unusable descriptor shows up on the first write.
    }
    this.#pipe = pipe;
    this.#timer = setInterval(() => {
      this.#blocked = false;
      this.flushSync();
    }, options.flushInterval ?? 100);
    this.#timer.unref();
    live.add(this);
  }

  /** Lines waiting in the buffer, in bytes. */
  get pending(): number {
    return this.#length;
  }

  /** Lines dropped since the last report because the destination was not accepting writes. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Lines dropped since it was made. */
  get droppedTotal(): number {
    return this.#droppedTotal;
  }

  /**
   * Registers a producer that records lines and formats them later, in batches: it is asked to
   * `drain` (write what it holds, through `reserve` and `commit`) before any other line is
   * written and on every flush, so lines stay in order and are out within the flush interval.
   */
  defer(producer: DeferredLines): void {
    this.#deferred.add(producer);
  }

  /** Buffers one or more whole lines; writes the batch out once it is full. */
  write(line: string): boolean {
    if (this.#deferred.size > 0) this.#drainDeferred();
    // An upper bound of the UTF-8 size, so the common case never measures the string.
    const offset = this.reserve(line.length * 3);
    if (offset < 0) return false;
    this.commit(offset + this.#buffer.write(line, offset, 'utf8'));
    return true;
  }

  /**
   * Room for a line of at most `maxBytes`, to be written straight into `buffer` from the
   * returned offset and then committed with `commit(end)`: a line assembled byte by byte costs
   * no string. -1 when there is no room (the line is dropped and counted). Nothing else may be
   * written between the two calls.
   */
  reserve(maxBytes: number): number {
    if (this.#closed) return -1;
    if (this.#length + maxBytes > this.#buffer.length && !this.#makeRoom(maxBytes)) {
      this.#dropped++;
      this.#droppedTotal++;
      return -1;
    }
    return this.#length;
  }

  /** The buffer `reserve` made room in (it may be replaced by a larger one on the next `reserve`). */
  get buffer(): Buffer {
    return this.#buffer;
  }

  /** Ends the line begun by `reserve`: `end` is the offset after its last byte. */
  commit(end: number): void {
    this.#length = end;
    if (end >= this.#batchBytes && !this.#blocked) this.flushSync();
  }

  /** pino calls this from `logger.flush(cb)`. */
  flush(callback?: (err?: Error) => void): void {
    this.flushSync();
    callback?.();
  }

  /** Writes out everything buffered that the destination accepts now. */
  flushSync(): void {
    if (this.#deferred.size > 0) this.#drainDeferred();
    if (this.#length > 0) this.#writeOut();
    if (this.#dropped > 0 && this.#length === 0 && !this.#failed) {
      const dropped = this.#dropped;
      this.#dropped = 0;
      this.write(`{"level":40,"time":${Date.now()}${this.#fields},"dropped":${dropped},"msg":"log lines dropped: the log destination was not accepting writes"}\n`);
      this.#writeOut();
    }
  }

  /** Flushes and stops the timer; closes the file when it was opened from a path. */
  end(): void {
    if (this.#closed) return;
    this.flushSync();
    this.#closed = true;
    live.delete(this);
    clearInterval(this.#timer);
    if (this.#ownsFd) closeSync(this.fd);
  }

  #drainDeferred(): void {
    for (const producer of this.#deferred) producer.drain();
  }

  /** Writes the buffer out, whole lines of at most 4 KiB per write into a pipe; keeps what is refused. */
  #writeOut(): void {
    const buffer = this.#buffer;
    let start = 0;
    while (start < this.#length) {
      let end = this.#length;
      if (this.#pipe && end - start > PIPE_ATOMIC_BYTES) {
        // The last newline within the atomic size; a longer line goes alone.
        const cut = buffer.lastIndexOf(10, start + PIPE_ATOMIC_BYTES - 1);
        end = cut >= start ? cut + 1 : buffer.indexOf(10, start) + 1 || end;
      }
      let written: number;
      try {
        written = writeSync(this.fd, buffer, start, end - start);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
          this.#blocked = true; // a full non-blocking pipe: retried by the timer
          break;
        }
        this.#fail(err as Error);
        start = this.#length;
        break;
      }
      this.#failed = false;
      start += written;
    }
    if (start === this.#length) this.#length = 0;
    else if (start > 0) {
      buffer.copyWithin(0, start, this.#length);
      this.#length -= start;
    }
  }

  /** Makes room for `bytes` more: writes out, then grows the buffer up to the cap. */
  #makeRoom(bytes: number): boolean {
    if (!this.#blocked) this.#writeOut();
    if (this.#length + bytes <= this.#buffer.length) return true;
    const needed = this.#length + bytes;
    if (needed > this.#maxBuffered) return false;
    const grown = Buffer.allocUnsafe(Math.min(this.#maxBuffered, Math.max(needed, this.#buffer.length * 2)));
    this.#buffer.copy(grown, 0, 0, this.#length);
    this.#buffer = grown;
    return true;
  }

  /** A destination that fails (closed pipe, full disk): the batch is lost; said once on standard error. */
  #fail(err: Error): void {
    if (this.#failed) return;
    this.#failed = true;
    try {
      writeSync(2, `log destination write failed: ${err.message}\n`);
    } catch {
      // Nowhere left to say it.
    }
  }
}
