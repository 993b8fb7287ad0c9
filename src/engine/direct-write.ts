import { connect, createServer, type Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';

/**
 * Writes to a plain TCP socket's handle directly, the way net's Writable does underneath, but
 * without its per-write bookkeeping (a new write request object, a callback, the stream state):
 * measured, that bookkeeping cost about 0.5 µs of a 6-byte response's write.
 *
 * Besides `llhttp.ts`, this is the one file that reaches into Node's internals: the
 * `stream_wrap` binding (through `process.binding`, which still offers it on every line from
 * 20 to 26) for its `WriteWrap` class and the state array where a write says whether it went
 * asynchronous, and a TCP handle's `writeLatin1String`, `writeBuffer` and `writeQueueSize`.
 * `selfTest()` checks them at start-up; without them every write goes through `socket.write`.
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
  readonly writeQueueSize: number;
}

interface StreamWrapBinding {
  WriteWrap: new () => WriteReq;
  streamBaseState: Int32Array;
  kLastWriteWasAsync: number;
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

function writeError(status: number): Error {
  const code = getSystemErrorName(status);
  return Object.assign(new Error(`write ${code}`), { code, errno: status, syscall: 'write' });
}

/**
 * The writes of one socket (a client's or a plain backend connection's): `write` takes a
 * latin1 string or a buffer and says, as `socket.write` does, whether more may be written now.
 */
export class SocketWriter {
  readonly #socket: Socket;
  /** Bytes handed to libuv by direct writes and not yet sent. */
  #pending = 0;
  /** The socket's TCP handle, once checked; null when it has none fit for direct writes. */
  #handle: Handle | null | undefined = undefined;

  constructor(socket: Socket) {
    this.#socket = socket;
  }

  /** Bytes written and not yet taken by the kernel (net's `bufferSize`, with the direct writes). */
  get queued(): number {
    return this.#socket.writableLength + this.#pending;
  }

  write(data: string | Buffer): boolean {
    const socket = this.#socket;
    const handle = this.#handle === undefined ? this.#check() : this.#handle;
    const b = binding;
    if (handle == null || b == null || this.#pending !== 0 || socket.writableLength !== 0 || socket.writableCorked !== 0 || socket.destroyed || socket.writableEnded) {
      return typeof data === 'string' ? socket.write(data, 'latin1') : socket.write(data);
    }
    const req = spare ??= newRequest(b);
    const err = typeof data === 'string' ? handle.writeLatin1String(req, data) : handle.writeBuffer(req, data);
    if (err !== 0) {
      socket.destroy(writeError(err));
      return false;
    }
    if (b.streamBaseState[b.kLastWriteWasAsync] === 0) return true;
    // The kernel did not take it all: libuv sends the rest, then calls `oncomplete`. The request
    // is libuv's until then.
    spare = undefined;
    const left = handle.writeQueueSize;
    req.writer = this;
    req.size = left;
    if (typeof data !== 'string') req.buffer = data;
    this.#pending += left;
    req.needDrain = left >= socket.writableHighWaterMark;
    return !req.needDrain;
  }

  /** libuv finished a direct write that went asynchronous. */
  completed(req: WriteReq, status: number): void {
    this.#pending -= req.size;
    const socket = this.#socket;
    if (socket.destroyed) return;
    if (status < 0) {
      socket.destroy(writeError(status));
      return;
    }
    // As net's stream does once it has sent what it held (what was written since through it, if
    // anything, only makes the next write say "wait" again).
    if (req.needDrain && this.#pending === 0) socket.emit('drain');
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

/**
 * Checks at start-up that direct writes work as this file expects: a socket pair on 127.0.0.1,
 * a string and a buffer written directly, then a MiB at a time to a peer that reads nothing
 * until a write goes asynchronous (it must queue, complete and drain), all arriving whole and
 * in order.
 * Resolves to undefined when they do, else to what differed (direct writes are then off).
 */
export async function selfTest(): Promise<string | undefined> {
  if (load() === null) return 'the stream_wrap binding is not as expected';
  const problem = await check();
  if (problem !== undefined) binding = null;
  return problem;
}

async function check(): Promise<string | undefined> {
  const server = createServer();
  try {
    // Exclusive: in a cluster worker a shared handle would hand the connection to any worker.
    await new Promise<void>((resolve, reject) => { server.once('error', reject).listen({ port: 0, host: '127.0.0.1', exclusive: true }, resolve); });
    const { port } = server.address() as { port: number };
    const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
    const client = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => { client.once('connect', resolve).once('error', reject); });
    const peer = await accepted;
    peer.pause();
    const writer = new SocketWriter(client);
    writer.write('a');
    writer.write(Buffer.from('b'));
    if (writer.queued !== 0 || client.writableLength !== 0) return 'a small write was not taken at once';
    // The peer reads nothing: a MiB at a time, until the kernel's buffers are full and a write queues.
    const mib = Buffer.alloc(1024 * 1024, 0x62);
    let megabytes = 0;
    let more = true;
    while (writer.queued === 0 && megabytes < 256) {
      more = writer.write(mib);
      megabytes++;
    }
    if (more || writer.queued === 0) return 'a write the kernel could not take did not queue';
    writer.write('c');
    const total = 2 + megabytes * mib.length + 1;
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
    const [got] = await Promise.all([received, drained]);
    client.destroy();
    peer.destroy();
    if (got.length !== total || got[0] !== 0x61 || got[1] !== 0x62 || got[total - 1] !== 0x63) return 'bytes arrived out of order';
    if (writer.queued !== 0) return `${writer.queued} bytes still counted as queued`;
    return undefined;
  } catch (err) {
    return `direct writes failed: ${(err as Error).message}`;
  } finally {
    server.close();
  }
}
