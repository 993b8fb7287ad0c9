import type { Socket } from 'node:net';
import { RequestContext } from '../context/index.js';
import { CLIENT_CLOSED } from '../proxy/index.js';
import { overflowedInRequestLine } from '../server/http-server.js';
import { writeRawError } from '../server/raw-response.js';
import { Parser, REQUEST, type NativeParseError, type ParserEvents } from './llhttp.js';
import { FastExchange } from './fast-exchange.js';
import { FastRequest } from './fast-request.js';
import { FastResponse, type ResponseOwner } from './fast-response.js';
import type { FastListener } from './fast-listener.js';

const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';

/**
 * One client connection of the fast engine: llhttp parses what the socket reads, each request
 * gets a context and runs the chain, and responses go out in request order. A request
 * pipelined behind one still being answered waits (and the socket is not read meanwhile), as
 * node:http makes it wait. The listener's sweep enforces the head and idle timeouts.
 */
export class ClientConnection implements ParserEvents, ResponseOwner {
  readonly socket: Socket;
  readonly #listener: FastListener;
  readonly #parser: Parser;
  /** The request whose head or body is being parsed. */
  #parsing: FastRequest | undefined = undefined;
  #parsingCtx: RequestContext | undefined = undefined;
  /** The context being answered, and those pipelined behind it. */
  #current: RequestContext | undefined = undefined;
  readonly #waiting: RequestContext[] = [];
  /** Listener tick when the current head began (0: not in a head), and of the last read. */
  headStartTick = 0;
  lastReadTick: number;
  #paused = false;
  /** A refusal to send once the responses before it are out. */
  #refusal = 0;
  #closed = false;


  constructor(listener: FastListener, socket: Socket) {
    this.#listener = listener;
    this.socket = socket;
    this.lastReadTick = listener.tick;
    this.#parser = new Parser(REQUEST, listener.limits.maxHeaderSize, this);
    socket.setNoDelay(true);
    socket.on('data', this.#onData);
    socket.on('drain', this.#onDrain);
    socket.on('error', this.#onError);
    // A client's FIN ends the connection, and what it asked for is cancelled (node:http's rule
    // without httpAllowHalfOpen): the socket is not half-open.
    socket.on('close', this.#onClose);
  }

  get date(): string {
    return this.#listener.date;
  }

  get keepAliveHint(): string {
    return this.#listener.keepAliveHint;
  }

  get draining(): boolean {
    return this.#listener.draining;
  }

  /** Nothing being answered or parsed: safe to close. */
  get idle(): boolean {
    return this.#current === undefined && this.#parsing === undefined && this.headStartTick === 0;
  }

  readonly #onData = (chunk: Buffer): void => {
    const listener = this.#listener;
    this.lastReadTick = listener.tick;
    if (this.#parsing === undefined && this.headStartTick === 0) this.headStartTick = listener.tick;
    const result = this.#parser.execute(chunk);
    if (typeof result !== 'number') {
      this.#parseError(result, chunk);
      return;
    }
    // An Upgrade: llhttp stops after its head; what follows is the tunnel's, sent once the backend agrees.
    const ctx = this.#parsingCtx ?? this.#current;
    if (result < chunk.length && ctx !== undefined && (ctx.req as FastRequest).upgrade) ctx.head = chunk.subarray(result);
  };

  onHead(versionMinor: number, rawHeaders: string[], method: string, url: string, _status: number, _text: string, upgrade: boolean, keepAlive: boolean): boolean {
    this.headStartTick = 0;
    const listener = this.#listener;
    const req = new FastRequest(this.socket, method, url, versionMinor, rawHeaders, keepAlive && !upgrade, upgrade);
    req.connection = this;
    this.#parsing = req;
    const refusal = this.#refusal === 0 ? listener.refusal(req) : undefined;
    if (refusal !== undefined) {
      listener.log.info({ status: refusal.status, reason: refusal.reason, client: this.socket.remoteAddress }, 'rejected request');
      this.#refuse(refusal.status);
      return false;
    }
    if (upgrade) this.#stopReading();
    const res = new FastResponse(this, req.keepAlive, method === 'HEAD', versionMinor === 0);
    const ctx = new RequestContext(req, res, listener.log, 'http');
    ctx.forwarder = listener.forwarder;
    if (upgrade) ctx.head = Buffer.alloc(0);
    this.#parsingCtx = ctx;
    listener.started();
    const expect = req.headers.expect;
    if (expect !== undefined) {
      if (expect.toLowerCase() !== '100-continue') {
        res.shouldKeepAlive = false;
        res.statusCode = 417;
      } else if (this.#current === undefined) {
        this.socket.write(CONTINUE, 'latin1');
      }
    }
    if (this.#current === undefined) this.#run(ctx);
    else {
      this.#waiting.push(ctx);
      this.#pause();
    }
    return false;
  }

  onBody(chunk: Buffer): void {
    const req = this.#parsing;
    if (req === undefined) return; // the body of a refused request
    if (!req.body(chunk)) this.#pause();
  }

  onMessageEnd(): void {
    const req = this.#parsing;
    this.#parsing = undefined;
    this.#parsingCtx = undefined;
    req?.bodyEnd();
  }

  /** The try writing the body can take more: read the client again. */
  resume(): void {
    if (!this.#paused || this.#closed) return;
    if (this.#waiting.length > 0) return; // a pipelined request is still waiting for its turn
    this.#paused = false;
    this.socket.resume();
  }

  /** A response has ended: the next pipelined request's turn, or the connection closes. */
  ended(res: FastResponse): void {
    const ctx = this.#current!;
    this.#listener.finish(ctx);
    this.#current = undefined;
    const req = ctx.req as FastRequest;
    // An unread body would have to be read and thrown away first: close instead, as the node engine does.
    if (!res.shouldKeepAlive || !req.complete || this.#listener.draining) {
      this.#close();
      return;
    }
    const next = this.#waiting.shift();
    if (next !== undefined) {
      const expect = next.req.headers.expect;
      if (expect !== undefined && expect.toLowerCase() === '100-continue') this.socket.write(CONTINUE, 'latin1');
      this.#run(next);
    }
    if (this.#current === undefined && this.#refusal !== 0) {
      this.#sendRefusal();
      return;
    }
    this.resume();
  }

  /** Closes the connection now (shutdown timeout, or a listener closing idle connections). */
  destroy(): void {
    this.socket.destroy();
  }

  #run(ctx: RequestContext): void {
    this.#current = ctx;
    const res = ctx.res as FastResponse;
    if (res.statusCode === 417) {
      res.end(Buffer.from('417 Expectation Failed\n'));
      return;
    }
    this.#listener.run(ctx);
  }

  #pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.socket.pause();
  }

  #stopReading(): void {
    this.socket.off('data', this.#onData);
    this.#pause();
  }

  /** A request refused at its head: answered once the responses before it are out, then the connection closes. */
  #refuse(status: number): void {
    this.#refusal = status;
    this.#stopReading();
    if (this.#current === undefined) this.#sendRefusal();
  }

  #sendRefusal(): void {
    this.#listener.refusedCount++;
    writeRawError(this.socket, this.#refusal);
    this.#close();
  }

  #parseError(err: NativeParseError, chunk: Buffer): void {
    this.#parsing = undefined;
    const code = err.code;
    const status = code === 'HPE_HEADER_OVERFLOW'
      ? (overflowedInRequestLine(Object.assign(err, { rawPacket: chunk })) ? 414 : 431) : 400;
    this.#listener.log.info({ code, status, client: this.socket.remoteAddress }, 'rejected malformed request');
    const ctx = this.#parsingCtx;
    this.#parsingCtx = undefined;
    // A body that breaks mid-way (a bad chunk): its request is already running; it is cut.
    if (ctx !== undefined) {
      ctx.abort(CLIENT_CLOSED);
      if (ctx === this.#current || (ctx.res as FastResponse).headersSent) {
        this.socket.destroy();
        return;
      }
    }
    this.#refuse(status);
  }

  /** Closes once everything written has gone; the socket's close ends what remains. */
  #close(): void {
    this.#stopReading();
    this.socket.destroySoon();
  }

  /** Requests the sweep found too slow with their head: 408, as node:http answers. */
  headTimeout(): void {
    this.#listener.log.info({ code: 'ERR_HTTP_REQUEST_TIMEOUT', status: 408, client: this.socket.remoteAddress }, 'rejected malformed request');
    this.headStartTick = 0;
    this.#refuse(408);
  }

  readonly #onDrain = (): void => {
    const upstream = this.#current?.upstream;
    if (upstream instanceof FastExchange) upstream.clientDrained();
  };

  readonly #onError = (): void => {
    this.socket.destroy();
  };

  readonly #onClose = (): void => {
    this.#closed = true;
    this.#parser.close();
    const listener = this.#listener;
    listener.forget(this);
    const open = this.#current === undefined ? this.#waiting : [this.#current, ...this.#waiting];
    this.#current = undefined;
    this.#waiting.length = 0;
    for (const ctx of open) {
      const res = ctx.res as FastResponse;
      if (res.finished) continue;
      res.finished = true;
      if (!ctx.tunnel) ctx.abort(CLIENT_CLOSED);
      listener.finish(ctx);
    }
    const parsing = this.#parsingCtx;
    if (parsing !== undefined && !open.includes(parsing) && !(parsing.res as FastResponse).finished) {
      (parsing.res as FastResponse).finished = true;
      parsing.abort(CLIENT_CLOSED);
      listener.finish(parsing);
    }
  };
}
