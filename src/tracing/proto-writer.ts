/**
 * The protobuf wire format's three encodings we need
 * (https://protobuf.dev/programming-guides/encoding/): varints (wire type 0), fixed 64-bit
 * values (1) and length-delimited bytes (2). A nested message is written into its own writer
 * and copied into its parent with its length: simple, and only done at export time.
 */
export class ProtoWriter {
  #buf: Buffer;
  #len = 0;

  constructor(size = 256) {
    this.#buf = Buffer.allocUnsafe(size);
  }

  #room(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#len + n));
    this.#buf.copy(next, 0, 0, this.#len);
    this.#buf = next;
  }

  /** An unsigned varint of a non-negative integer up to 2^53, or of a bigint (int64 two's complement). */
  varint(value: number | bigint): this {
    this.#room(10);
    const buf = this.#buf;
    if (typeof value === 'bigint') {
      let v = BigInt.asUintN(64, value);
      while (v > 0x7fn) {
        buf[this.#len++] = Number(v & 0x7fn) | 0x80;
        v >>= 7n;
      }
      buf[this.#len++] = Number(v);
      return this;
    }
    let v = value;
    while (v > 0x7f) {
      buf[this.#len++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    buf[this.#len++] = v;
    return this;
  }

  tag(field: number, wireType: 0 | 1 | 2 | 5): this {
    return this.varint(field * 8 + wireType);
  }

  /** A varint field (uint32, int64, enum, bool); a zero is not written, as proto3 leaves defaults out. */
  uint(field: number, value: number | bigint): this {
    if (value === 0 || value === 0n) return this;
    return this.tag(field, 0).varint(value);
  }

  fixed64(field: number, value: bigint): this {
    this.tag(field, 1);
    this.#room(8);
    this.#buf.writeBigUInt64LE(BigInt.asUintN(64, value), this.#len);
    this.#len += 8;
    return this;
  }

  double(field: number, value: number): this {
    this.tag(field, 1);
    this.#room(8);
    this.#buf.writeDoubleLE(value, this.#len);
    this.#len += 8;
    return this;
  }

  /** A length-delimited field: bytes, or a nested message's encoding. Written even when empty (a repeated message may be empty). */
  bytes(field: number, value: Uint8Array): this {
    this.tag(field, 2).varint(value.length);
    this.#room(value.length);
    this.#buf.set(value, this.#len);
    this.#len += value.length;
    return this;
  }

  /** A string field; an empty one is left out. */
  string(field: number, value: string): this {
    if (value === '') return this;
    const n = Buffer.byteLength(value);
    this.tag(field, 2).varint(n);
    this.#room(n);
    this.#len += this.#buf.write(value, this.#len, 'utf8');
    return this;
  }

  /** A bytes field from hex digits (trace and span ids); an empty string is left out. */
  hex(field: number, value: string): this {
    if (value === '') return this;
    return this.bytes(field, Buffer.from(value, 'hex'));
  }

  finish(): Buffer {
    return this.#buf.subarray(0, this.#len);
  }
}
