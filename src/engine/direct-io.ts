import { connect, createServer, Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';

/**
 * Reads and writes of plain TCP sockets done closer to the handle than net's streams do them.
 *
 * Writes go to a socket's handle directly, the way net's Writable does underneath, but
 * without its per-write bookkeeping (a new write request object, a callback, the stream state):
 * measured, that bookkeeping cost about 0.5 µs of a 6-byte response's write.
 *
 * Reads of client sockets go into one buffer shared by all of them and straight to a callback
 * (net's `onread` option, which a server's sockets cannot be given), not through the Readable
 * stream: no allocation per read, no buffer object, no `push` and 'data' event. Reads
 * with such a callback (backend sockets use the option) skip net's read function too.
 *
 * Besides `llhttp.ts`, this is the one file that reaches into Node's internals: the
 * `stream_wrap` binding (through `process.binding`, which still offers it on every line from
 * 20 to 26) for its `WriteWrap` class and the state array where a write says whether it went
 * asynchronous, and the index of a read's byte count in it; a TCP handle's `writeLatin1String`,
 * `writeBuffer`, `writev` (when it lacks one, `writeAround` goes through net), `writeQueueSize`, `useUserBuffer` and `onread`; and the three symbols under
 * which a socket keeps its `onread` option, found by their names on a socket made with that
 * option. `selfTest()` checks them at start-up;
 * without them every write goes through `socket.write` and every read through 'data'.
 *
 * A direct write is made only when nothing is queued (in the Writable or in libuv) and the
 * socket is not corked, so bytes go out in the order they were written whichever path they take.
 * What the kernel does not take at once stays queued in libuv; the writer counts it, keeps the
 * buffer alive until it is sent, and emits 'drain' once it is, when the write returned false.
 */

interface WriteReq {
  oncomplete: (this: WriteReq, status: number) => void;
  /** Keeps a buffer alive while libuv sends it. */
  buffer: Buffer | null;
  /** What this file adds: who to tell when libuv has sent it. */
  writer: SocketWriter | undefined;
  size: number;
  needDrain: boolean;
}

interface Handle {
  writeLatin1String(req: WriteReq, data: string): number;
  writeBuffer(req: WriteReq, data: Buffer): number;
  /** `chunks`: chunk, encoding, chunk, encoding…, strings copied, buffers sent in place. */
  writev?(req: WriteReq, chunks: unknown[], allBuffers: boolean): number;
  readonly writeQueueSize: number;
}

/**
 * The chunks array of a head-body-tail write, reused: the binding reads it before returning
 * (strings are copied, a buffer is kept alive by its request).
 */
const around: unknown[] = ['', 'latin1', null, 'latin1', '', 'latin1'];
const headAndBody: unknown[] = ['', 'latin1', null, 'latin1'];

interface StreamWrapBinding {
  WriteWrap: new () => WriteReq;
  streamBaseState: Int32Array;
  kLastWriteWasAsync: number;
  /** Where a read's byte count (or error) is, in `streamBaseState`. */
  kReadBytesOrError?: number;
}

/** The binding, once loaded and found as expected; null when it is not (writes go through net). */
let binding: StreamWrapBinding | null | undefined;

function load(): StreamWrapBinding | null {
  if (binding !== undefined) return binding;
  try {
    const b = (process as unknown as { binding(name: string): Partial<StreamWrapBinding> }).binding('stream_wrap');
    const fit = typeof b.WriteWrap === 'function' && b.streamBaseState instanceof Int32Array
      && typeof b.kLastWriteWasAsync === 'number' && b.kLastWriteWasAsync < b.streamBaseState.length;
    binding = fit ? b as StreamWrapBinding : null;
  } catch {
    binding = null;
  }
  return binding;
}

/**
 * The request the next direct write passes. A write the kernel takes whole never touches its
 * request (the handle wraps it only to queue what is left, and then says the write went
 * asynchronous), so one serves every such write; one that goes asynchronous keeps it, and the
 * next write takes a new one.
 */
let spare: WriteReq | undefined;

function newRequest(b: StreamWrapBinding): WriteReq {
  const req = new b.WriteWrap();
  req.oncomplete = onComplete;
  req.buffer = null;
  req.writer = undefined;
  req.size = 0;
  req.needDrain = false;
  return req;
}

function onComplete(this: WriteReq, status: number): void {
  const writer = this.writer;
  this.writer = undefined;
  this.buffer = null;
  writer?.completed(this, status);
}

function writeError(status: number): Error & { code: string } {
  const code = getSystemErrorName(status);
  return Object.assign(new Error(`write ${code}`), { code, errno: status, syscall: 'write' });
}

/**
 * The writes of one socket (a client's or a plain backend connection's): `write` takes a
 * latin1 string or a buffer and says, as `socket.write` does, whether more may be written now.
 */
export class SocketWriter {
  /**
   * A TLS socket's writer: what it hands to the socket while nothing is queued before it is
   * encrypted at once, into OpenSSL's buffers; only what queues in net's stream behind an
   * unfinished write is kept as it was given. (A TCP socket keeps every buffer until it is sent.)
   */
  readonly copies: boolean;
  readonly #socket: Socket;
  /** Bytes handed to libuv by direct writes and not yet sent. */
  #pending = 0;
  /** The socket's TCP handle, once checked; null when it has none fit for direct writes. */
  #handle: Handle | null | undefined = undefined;
  /**
   * Set by a backend connection: asked whether a direct write the peer refused (EPIPE,
   * ECONNRESET) may leave the socket open, reading, rather than destroy it. A backend that
   * answers early and resets has its answer in the socket's receive queue, unread when the
   * write that meets the reset comes first: a destroy would throw it away (the client got a 502).
   */
  keepReading: (() => boolean) | undefined = undefined;
  #refused = false;

  constructor(socket: Socket) {
    this.#socket = socket;
    this.copies = (socket as Socket & { encrypted?: boolean }).encrypted === true;
  }

  /** Bytes written and not yet taken by the kernel (net's `bufferSize`, with the direct writes). */
  get queued(): number {
    return this.#socket.writableLength + this.#pending;
  }

  /** The peer refused a write and the socket was left to read (see `keepReading`): what is written now is dropped. */
  get refused(): boolean {
    return this.#refused;
  }

  write(data: string | Buffer): boolean {
    if (this.#refused) return true;
    const socket = this.#socket;
    const handle = this.#handle === undefined ? this.#check() : this.#handle;
    const b = binding;
    if (handle == null || b == null || this.#pending !== 0 || socket.writableLength !== 0 || socket.writableCorked !== 0 || socket.destroyed || socket.writableEnded) {
      return typeof data === 'string' ? socket.write(data, 'latin1') : socket.write(data);
    }
    const req = spare ??= newRequest(b);
    const err = typeof data === 'string' ? handle.writeLatin1String(req, data) : handle.writeBuffer(req, data);
    if (err !== 0) return this.#failed(err);
    if (b.streamBaseState[b.kLastWriteWasAsync] === 0) return true;
    return this.#queued(req, handle, typeof data === 'string' ? undefined : data);
  }

  /**
   * The kernel did not take it all: libuv sends the rest, then calls `oncomplete`. The request is
   * libuv's until then, and keeps `buffer` (what is sent from where it is; strings are the
   * request's own copy). Returns as `write` does.
   */
  #queued(req: WriteReq, handle: Handle, buffer: Buffer | undefined): boolean {
    spare = undefined;
    const left = handle.writeQueueSize;
    req.writer = this;
    req.size = left;
    if (buffer !== undefined) req.buffer = buffer;
    this.#pending += left;
    req.needDrain = left >= this.#socket.writableHighWaterMark;
    return !req.needDrain;
  }

  /**
   * Writes `head`, `body` and `tail` (latin1 strings around a buffer; `tail` may be empty) in one
   * system call, as net's corked writes would (a response head with its first body chunk, a
   * chunk with its chunked framing) without net's bookkeeping. Returns as `write` does.
   */
  writeAround(head: string, body: Buffer, tail: string): boolean {
    if (this.#refused) return true;
    const socket = this.#socket;
    const handle = this.#handle === undefined ? this.#check() : this.#handle;
    const b = binding;
    if (handle == null || b == null || handle.writev === undefined || this.#pending !== 0 || socket.writableLength !== 0 || socket.writableCorked !== 0 || socket.destroyed || socket.writableEnded) {
      socket.cork();
      socket.write(head, 'latin1');
      let more = socket.write(body);
      if (tail !== '') more = socket.write(tail, 'latin1');
      socket.uncork();
      return more;
    }
    const chunks = tail === '' ? headAndBody : around;
    chunks[0] = head;
    chunks[2] = body;
    if (tail !== '') chunks[4] = tail;
    const req = spare ??= newRequest(b);
    const err = handle.writev(req, chunks, false);
    chunks[2] = null;
    if (err !== 0) return this.#failed(err);
    if (b.streamBaseState[b.kLastWriteWasAsync] === 0) return true;
    return this.#queued(req, handle, body);
  }

  /** libuv finished a direct write that went asynchronous. */
  completed(req: WriteReq, status: number): void {
    this.#pending -= req.size;
    const socket = this.#socket;
    if (socket.destroyed) return;
    if (status < 0) {
      this.#failed(status);
      return;
    }
    // As net's stream does once it has sent what it held (what was written since through it, if
    // anything, only makes the next write say "wait" again).
    if (req.needDrain && this.#pending === 0) socket.emit('drain');
  }

  /** A write failed with libuv's `status`: the socket is destroyed, or, refused by a peer that may have answered, left to read. */
  #failed(status: number): boolean {
    if (this.#refused) return true;
    const err = writeError(status);
    if ((err.code === 'EPIPE' || err.code === 'ECONNRESET') && this.keepReading?.() === true) {
      this.#refused = true;
      return true;
    }
    this.#socket.destroy(err);
    return false;
  }

  /** A plain, connected TCP socket's handle with the methods this file uses, else null. */
  #check(): Handle | null | undefined {
    const socket = this.#socket;
    if (socket.connecting) return undefined; // not yet: asked again on the next write
    const handle = (socket as unknown as { _handle?: Partial<Handle> & { constructor?: { name?: string } } })._handle;
    const fit = load() !== null && handle != null && handle.constructor?.name === 'TCP' && typeof handle.writeLatin1String === 'function'
      && typeof handle.writeBuffer === 'function' && typeof handle.writeQueueSize === 'number';
    return this.#handle = fit ? handle as Handle : null;
  }
}

/** Where net keeps a socket's `onread` option: its buffer, callback and buffer maker. */
interface ReadSlots {
  readonly buffer: symbol;
  readonly callback: symbol;
  readonly generator: symbol;
}

/** The slots, once found as expected; null when they are not (reads go through 'data'). */
let readSlots: ReadSlots | null | undefined;

function findReadSlots(): ReadSlots | null {
  if (readSlots !== undefined) return readSlots;
  try {
    const buffer = Buffer.alloc(1);
    const callback = (): boolean => true;
    // No handle until it connects: nothing to close.
    const options = { onread: { buffer, callback } } as ConstructorParameters<typeof Socket>[0];
    const probe = new Socket(options) as unknown as Record<symbol, unknown>;
    const named = new Map(Object.getOwnPropertySymbols(probe).map((s) => [s.description, s]));
    const b = named.get('kBuffer');
    const c = named.get('kBufferCb');
    const g = named.get('kBufferGen');
    const fit = b !== undefined && c !== undefined && g !== undefined && probe[b] === buffer && probe[c] === callback && probe[g] === null;
    readSlots = fit ? { buffer: b, callback: c, generator: g } : null;
  } catch {
    readSlots = null;
  }
  return readSlots;
}

/**
 * Bytes a client socket reads at once: one buffer for the process, so a large one costs nothing
 * per connection, and an upload comes in a quarter of the reads (and of the writes to its
 * backend) a 64 KiB one needs (a 1 MiB POST: about 6 reads and 7 writes, not 19 and 20).
 */
const SHARED_READ_BYTES = 256 * 1024;

/**
 * The one buffer every client socket reads into: reads run one at a time on the loop, and
 * what is read is parsed before the callback returns (llhttp copies body bytes out; a caller
 * that keeps any of it copies it).
 */
let sharedRead: Buffer | undefined;

/**
 * Makes `socket` (a plain TCP socket, reading) deliver its reads to `onRead` as slices of the
 * shared buffer, valid only until it returns, instead of as 'data' events. Pausing and resuming
 * the socket work as before; its end and errors come as they did. Returns false, changing
 * nothing, when that cannot be done here (the socket is then read through 'data').
 */
export function readShared(socket: Socket, onRead: (chunk: Buffer) => void): boolean {
  const slots = readSlots === undefined ? findReadSlots() : readSlots;
  if (slots === null || socket.destroyed) return false;
  const handle = tcpHandle(socket);
  if (handle === undefined || typeof handle.useUserBuffer !== 'function') return false;
  const buffer = sharedRead ??= Buffer.allocUnsafe(SHARED_READ_BYTES);
  const slotted = socket as unknown as Record<symbol, unknown>;
  slotted[slots.buffer] = buffer;
  slotted[slots.generator] = null;
  // One view per length read, kept for the next read of the same length (requests alike in
  // size are the common case): callers never keep it.
  let view = buffer.subarray(0, 0);
  slotted[slots.callback] = (length: number): boolean => {
    if (view.length !== length) view = buffer.subarray(0, length);
    onRead(view);
    return true;
  };
  handle.useUserBuffer(buffer);
  readDirect(socket);
  return true;
}

interface ReadingHandle {
  onread: (this: ReadingHandle, arrayBuffer: unknown) => unknown;
  useUserBuffer?: (buffer: Buffer) => void;
}

/** The socket's handle when it is a TCP one, else undefined. */
function tcpHandle(socket: Socket): ReadingHandle | undefined {
  const handle = (socket as unknown as { _handle?: ReadingHandle & { constructor?: { name?: string } } })._handle;
  return handle != null && handle.constructor?.name === 'TCP' && typeof handle.onread === 'function' ? handle : undefined;
}

/**
 * For a socket reading into a buffer of its own (net's `onread` option, or `readShared`): a
 * read with bytes goes from the handle straight to its callback, without net's read function
 * in between, which only adds, for such a read, the refresh of a `setTimeout` timer. A socket
 * with such a timer set, and every end, error or empty read, still go through net's function.
 * Returns false, changing nothing, when the socket or this Node.js is not as expected.
 */
export function readDirect(socket: Socket): boolean {
  const slots = readSlots === undefined ? findReadSlots() : readSlots;
  const b = load();
  const handle = tcpHandle(socket);
  if (slots === null || b === null || b.kReadBytesOrError === undefined || handle === undefined) return false;
  const slotted = socket as unknown as Record<symbol, unknown>;
  if (typeof slotted[slots.callback] !== 'function') return false;
  const state = b.streamBaseState;
  const at = b.kReadBytesOrError;
  const viaNet = handle.onread;
  handle.onread = function onread(arrayBuffer) {
    const length = state[at]!;
    if (length <= 0 || socket.destroyed || socket.timeout) return viaNet.call(this, arrayBuffer);
    const buffer = slotted[slots.buffer] as Buffer;
    if ((slotted[slots.callback] as (length: number, buffer: Buffer) => unknown)(length, buffer) === false && !socket.destroyed) {
      // As net does: the callback asked for no more reads for now.
      (this as { reading?: boolean }).reading = false;
      (this as unknown as { readStop(): number }).readStop();
    }
    const next = slotted[slots.generator] as (() => Buffer) | null;
    if (next === null) return undefined;
    // The buffer the next read goes into, when the last one must be kept (net's `onread` option).
    const following = next();
    if (following === buffer || !(following instanceof Uint8Array)) return undefined;
    slotted[slots.buffer] = following;
    return following;
  };
  return true;
}

/**
 * Checks at start-up that direct writes and shared reads work as this file expects, on a
 * socket pair on 127.0.0.1. Writes: a string, a buffer and two buffers with strings around them
 * written directly, then a MiB at a
 * time to a peer that reads nothing until a write goes asynchronous (it must queue, complete
 * and drain), all arriving whole and in order. Reads: a socket reading through the shared
 * buffer gets what its peer sends, in order, then its end.
 * Resolves to undefined when both work, else to what differed (what failed is then off: writes
 * go through `socket.write`, reads through 'data').
 */
export async function selfTest(): Promise<string | undefined> {
  const problems: string[] = [];
  if (load() === null) problems.push('the stream_wrap binding is not as expected');
  else {
    const problem = await check();
    if (problem !== undefined) {
      binding = null;
      problems.push(problem);
    }
  }
  const reads = await checkReads();
  if (reads !== undefined) {
    readSlots = null;
    problems.push(reads);
  }
  return problems.length === 0 ? undefined : problems.join('; ');
}

/**
 * Runs `check` on a connected pair of sockets on 127.0.0.1; the sockets and their server are
 * closed whatever it does (left open, they would keep the process alive).
 */
async function onSocketPair(check: (client: Socket, peer: Socket) => Promise<string | undefined>): Promise<string | undefined> {
  const server = createServer();
  let client: Socket | undefined;
  let peer: Socket | undefined;
  try {
    // Exclusive: in a cluster worker a shared handle would hand the connection to any worker.
    await new Promise<void>((resolve, reject) => { server.once('error', reject).listen({ port: 0, host: '127.0.0.1', exclusive: true }, resolve); });
    const { port } = server.address() as { port: number };
    const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
    client = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => { client!.once('connect', resolve).once('error', reject); });
    peer = await accepted;
    return await check(client, peer);
  } finally {
    client?.destroy();
    peer?.destroy();
    server.close();
  }
}

async function checkReads(): Promise<string | undefined> {
  if (findReadSlots() === null) return 'net keeps its onread option otherwise than expected';
  return onSocketPair(async (client, peer) => {
    const got: string[] = [];
    const ended = new Promise<void>((resolve) => peer.once('end', resolve));
    if (!readShared(peer, (chunk) => got.push(chunk.toString('latin1')))) return 'a socket would not read through the shared buffer';
    const sent = 'x'.repeat(100 * 1024);
    client.end(`a${sent}z`);
    const late = await within(ended, 'shared reads');
    if (late !== undefined) return late;
    const all = got.join('');
    if (all !== `a${sent}z`) return `shared reads got ${all.length} bytes, not ${sent.length + 2} in order`;
    return undefined;
  }).catch((err: Error) => `shared reads failed: ${err.message}`);
}

/**
 * What a check waits for, or what failed when it has not come in 10 s: a check that waits
 * forever would hold the start-up (or, its sockets left open, keep the process alive).
 */
async function within(event: Promise<unknown>, what: string): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((resolve) => { timer = setTimeout(() => resolve(`${what} did not complete within 10 s`), 10_000); });
  try {
    return await Promise.race([event.then(() => undefined), late]);
  } finally {
    clearTimeout(timer);
  }
}

async function check(): Promise<string | undefined> {
  return onSocketPair(async (client, peer) => {
    peer.pause();
    const writer = new SocketWriter(client);
    writer.write('a');
    writer.write(Buffer.from('b'));
    writer.writeAround('c', Buffer.from('d'), 'e');
    writer.writeAround('f', Buffer.from('g'), '');
    if (writer.queued !== 0 || client.writableLength !== 0) return 'a small write was not taken at once';
    // The peer reads nothing: a MiB at a time, until the kernel's buffers are full and a write
    // queues, then until the writer says to wait. What a direct write leaves queued may be less
    // than the socket's high-water mark (64 KiB from Node 22): it then says to go on, and the
    // next write goes through net, behind it.
    const mib = Buffer.alloc(1024 * 1024, 0x62);
    let megabytes = 0;
    let more = true;
    let queued = false;
    while (more && megabytes < 256) {
      // Every other one through writev, whose asynchronous end must count as a write's.
      more = megabytes % 2 === 0 ? writer.write(mib) : writer.writeAround('', mib, '');
      megabytes++;
      if (writer.queued !== 0) queued = true;
    }
    if (!queued || more) return 'a write the kernel could not take did not queue';
    // Behind what is queued: net's path, in order.
    writer.writeAround('h', mib, 'i');
    const total = 7 + (megabytes + 1) * mib.length + 2;
    const drained = new Promise<void>((resolve) => client.once('drain', resolve));
    const received = new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      let length = 0;
      peer.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        length += chunk.length;
        if (length >= total) resolve(Buffer.concat(chunks));
      });
    });
    peer.resume();
    let got: Buffer | undefined;
    const late = await within(Promise.all([received.then((b) => { got = b; }), drained]), 'direct writes');
    if (late !== undefined) return late;
    const start = got?.subarray(0, 7).toString('latin1');
    if (got === undefined || got.length !== total || start !== 'abcdefg' || got[7 + megabytes * mib.length] !== 0x68 || got[total - 1] !== 0x69) return 'bytes arrived out of order';
    if (writer.queued !== 0) return `${writer.queued} bytes still counted as queued`;
    return undefined;
  }).catch((err: Error) => `direct writes failed: ${err.message}`);
}
