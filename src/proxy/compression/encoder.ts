import * as zlib from 'node:zlib';
import type { Transform } from 'node:stream';
import type { Encoding } from './negotiate.js';

/** Where an encoder's output goes: the transport's side towards the client. */
export interface EncodedSink {
  /** Compressed bytes for the client; false: it is full, and the encoder waits for `clientDrained`. */
  output(chunk: Buffer): boolean;
  /** Every compressed byte has been given: the response may end. */
  finished(): void;
  /** The compressor has room again: the backend may be read again (after `write` said false). */
  ready(): void;
  /** The compressor failed (it does not, short of memory): the response cannot be completed. */
  failed(err: Error): void;
}

/** zstd's module functions and constants, where this Node has them (22.15+, 24). */
const zstd = zlib as unknown as {
  createZstdCompress?: (options: { params: Record<number, number> }) => Transform;
  constants: { ZSTD_c_compressionLevel?: number; ZSTD_e_flush?: number };
};

/**
 * A response body compressed on its way: a zlib stream between the backend's chunks and the
 * client, with backpressure both ways. `write` says false when the compressor's input is full
 * (the transport pauses the backend until `ready`); the compressor's output pauses while the
 * client is full (until `clientDrained`). Nothing is buffered beyond zlib's own window and one
 * highWaterMark each side.
 */
export class Encoder {
  readonly #z: Transform;
  readonly #sink: EncodedSink;
  readonly #flushEach: boolean;
  readonly #flushKind: number;
  #done = false;

  constructor(encoding: Encoding, level: number, flushEach: boolean, sink: EncodedSink) {
    this.#sink = sink;
    this.#flushEach = flushEach;
    const c = zlib.constants;
    if (encoding === 'gzip') {
      this.#z = zlib.createGzip({ level });
      this.#flushKind = c.Z_SYNC_FLUSH;
    } else if (encoding === 'br') {
      this.#z = zlib.createBrotliCompress({ params: { [c.BROTLI_PARAM_QUALITY]: level } });
      this.#flushKind = c.BROTLI_OPERATION_FLUSH;
    } else {
      this.#z = zstd.createZstdCompress!({ params: { [zstd.constants.ZSTD_c_compressionLevel!]: level } });
      this.#flushKind = zstd.constants.ZSTD_e_flush!;
    }
    const z = this.#z;
    z.on('data', this.#onData);
    z.on('end', this.#onEnd);
    z.on('drain', this.#onDrain);
    z.on('error', this.#onError);
  }

  /** A chunk of the backend's body (not reused by the caller after this). False: wait for the sink's `ready`. */
  write(chunk: Buffer): boolean {
    const z = this.#z;
    const more = z.write(chunk);
    // Each server-sent event reaches the client when it is sent (a sync flush: a few bytes each).
    if (this.#flushEach) (z as unknown as { flush(kind: number): void }).flush(this.#flushKind);
    return more;
  }

  /** The backend's body is complete: the rest of the output follows, then the sink's `finished`. */
  end(): void {
    this.#z.end();
  }

  /** The client took what it was sent: output goes on. */
  clientDrained(): void {
    if (!this.#done) this.#z.resume();
  }

  /** Stops at once (the response failed or the client left): no more calls to the sink. */
  destroy(): void {
    if (this.#done) return;
    this.#done = true;
    this.#z.destroy();
  }

  readonly #onData = (chunk: Buffer): void => {
    if (this.#done) return;
    if (!this.#sink.output(chunk)) this.#z.pause();
  };

  readonly #onEnd = (): void => {
    if (this.#done) return;
    this.#done = true;
    this.#sink.finished();
  };

  readonly #onDrain = (): void => {
    if (!this.#done) this.#sink.ready();
  };

  readonly #onError = (err: Error): void => {
    if (this.#done) return;
    this.#done = true;
    this.#sink.failed(err);
  };
}
