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
    return this.stringAlways(field, value, utf8Length(value));
  }

  /** A bytes field from hex digits (trace and span ids); an empty string is left out. */
  hex(field: number, value: string): this {
    if (value === '') return this;
    return this.bytes(field, Buffer.from(value, 'hex'));
  }

  /** A bytes field from hex digits written straight into the buffer (no intermediate Buffer). */
  hexAlways(field: number, value: string): this {
    const n = value.length >>> 1;
    this.tag(field, 2).varint(n);
    this.#room(n);
    const buf = this.#buf;
    let at = this.#len;
    for (let i = 0; i < value.length; i += 2) buf[at++] = (hexDigit(value.charCodeAt(i)) << 4) | hexDigit(value.charCodeAt(i + 1));
    this.#len = at;
    return this;
  }

  /** A string field written even when empty (an AnyValue's string_value). */
  stringAlways(field: number, value: string, bytes: number): this {
    this.tag(field, 2).varint(bytes);
    this.#room(bytes);
    if (bytes === value.length) {
      // ASCII (attribute names and most values): copied here; a native call costs more for short strings.
      const buf = this.#buf;
      let at = this.#len;
      for (let i = 0; i < bytes; i++) buf[at++] = value.charCodeAt(i);
      this.#len = at;
    } else {
      this.#len += this.#buf.write(value, this.#len, bytes, 'utf8');
    }
    return this;
  }

  /**
   * A fixed64 field of nanoseconds from `micros` microseconds (< 2^53), without a bigint:
   * micros × 1000 split into two exact 32-bit halves.
   */
  fixed64Micros(field: number, micros: number): this {
    this.tag(field, 1);
    this.#room(8);
    const high = Math.floor(micros / 0x1_0000_0000);
    const low = (micros % 0x1_0000_0000) * 1000;
    const carry = Math.floor(low / 0x1_0000_0000);
    this.#buf.writeUInt32LE(low % 0x1_0000_0000, this.#len);
    this.#buf.writeUInt32LE((high * 1000 + carry) >>> 0, this.#len + 4);
    this.#len += 8;
    return this;
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#len;
  }

  /** Empties the writer to be used again (its buffer is kept). */
  reset(): this {
    this.#len = 0;
    return this;
  }

  /** What was written: a view of the writer's buffer, valid until it is written to or reset. */
  finish(): Buffer {
    return this.#buf.subarray(0, this.#len);
  }
}

/** A hex digit's value (lowercase or uppercase). */
function hexDigit(c: number): number {
  return c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57;
}

/** The UTF-8 length of a string, counted in JS (a lone surrogate counts 3, as Buffer writes U+FFFD). */
export function utf8Length(value: string): number {
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < value.length && (value.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** The bytes a varint of a non-negative integer (< 2^53) takes. */
export function varintSize(value: number): number {
  let n = 1;
  while (value > 0x7f) {
    value = Math.floor(value / 0x80);
    n++;
  }
  return n;
}
