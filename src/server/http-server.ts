import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';
import { ContextResponse, RequestContext } from '../context/index.js';
import type { Chain } from '../middleware/index.js';
import { CLIENT_CLOSED } from '../proxy/index.js';

export interface ListenerOptions {
  readonly host: string;
  readonly port: number;
  /** How long an idle client keep-alive connection is kept open. */
  readonly keepAliveTimeout?: number;
  /** Largest request head accepted; larger gets 431 (node:http's default is 16 KiB). */
  readonly maxHeaderSize?: number;
}

/**
 * The client-facing HTTP/1.1 listener: creates a RequestContext per request, runs the chain,
 * tracks requests in flight and drains them on shutdown. node:http's parser (llhttp) is strict:
 * ambiguous framing and oversized heads never reach the chain.
 */
export class HttpListener {
  readonly server: Server<typeof IncomingMessage, typeof ContextResponse>;
  readonly #options: ListenerOptions;
  readonly #log: Logger;
  #inFlight = 0;
  #draining = false;
  #drained: (() => void) | undefined;

  constructor(chain: Chain, options: ListenerOptions, log: Logger) {
    this.#options = options;
    this.#log = log;
    this.server = createServer({
      ServerResponse: ContextResponse,
      keepAliveTimeout: options.keepAliveTimeout ?? 5000,
      maxHeaderSize: options.maxHeaderSize ?? 16 * 1024,
      // The whole-request timeout would cut long uploads and downloads; PROXY_TIMEOUT bounds the backend.
      requestTimeout: 0,
      requireHostHeader: true,
    });
    const listener = this;
    // One close listener for every response: created once, it finds its request through res.context.
    const onClose = function (this: ContextResponse): void {
      const ctx = this.context!;
      if (!this.writableFinished) ctx.abort(CLIENT_CLOSED);
      try {
        chain.end(ctx);
      } catch (err) {
        log.error({ err, reqId: ctx.id }, 'request end hook failed');
      }
      listener.#requestEnded();
    };
    this.server.on('request', (req, res) => {
      const ctx = new RequestContext(req, res, log, 'http');
      res.context = ctx;
      this.#inFlight++;
      res.once('close', onClose);
      try {
        chain.run(ctx);
      } catch (err) {
        ctx.log.error({ err }, 'request handler failed');
        if (res.headersSent) res.destroy();
        else { res.statusCode = 500; res.shouldKeepAlive = false; res.end(); }
      }
    });
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.#clientError(err, socket));
  }

  /** Requests whose response has not ended yet. */
  get inFlight(): number {
    return this.#inFlight;
  }

  get address(): AddressInfo {
    return this.server.address() as AddressInfo;
  }

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen({ host: this.#options.host, port: this.#options.port }, () => {
        this.server.off('error', onError);
        resolve(this.address);
      });
    });
  }

  /**
   * Graceful stop: stop accepting at once, close idle keep-alive connections at once, let
   * requests in flight finish (their responses carry `Connection: close`) for up to `timeout`
   * ms, then cut what remains. Resolves with the number of requests cut.
   */
  async drain(timeout: number): Promise<number> {
    this.#draining = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    if (this.#inFlight > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => { this.#drained = resolve; }),
        new Promise<void>((resolve) => { timer = setTimeout(resolve, timeout); }),
      ]);
      clearTimeout(timer);
    }
    const cut = this.#inFlight;
    this.server.closeAllConnections();
    await closed;
    return cut;
  }

  #requestEnded(): void {
    this.#inFlight--;
    if (!this.#draining) return;
    // Sockets become idle once node has finished this response; close them then.
    setImmediate(() => this.server.closeIdleConnections());
    if (this.#inFlight === 0) this.#drained?.();
  }

  /** Malformed or oversized requests: answer 400/431/408 and close, as HAProxy does. */
  #clientError(err: NodeJS.ErrnoException, socket: Socket): void {
    const code = err.code ?? '';
    // node:http's own rule: never write over a response that has started.
    const current = (socket as Socket & { _httpMessage?: { headersSent: boolean } })._httpMessage;
    if (code === 'ECONNRESET' || !socket.writable || current?.headersSent === true) {
      socket.destroy();
      return;
    }
    const status = code === 'HPE_HEADER_OVERFLOW' ? 431 : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    this.#log.info({ code, status, client: socket.remoteAddress }, 'rejected malformed request');
    const text = status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request';
    const body = `${status} ${text}\n`;
    socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
    socket.destroySoon?.();
  }
}
