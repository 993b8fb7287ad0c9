import { ProxyError, type Stage } from '../errors/index.js';

/**
 * The sweep's judgement of a transfer that may stall, shared by both engines' exchanges: a
 * request body that does not move (the client's fault when it is being read: 408 after
 * CLIENT_BODY_TIMEOUT; the backend's when it takes none: 504 after PROXY_TIMEOUT), and a client
 * that takes none of its response (cut after CLIENT_SEND_TIMEOUT). Each `check` returns the error
 * that ends the exchange, or undefined.
 */
export class Progress {
  /** Set when a request body chunk went upstream; the next upload check clears it. */
  bodyMoved = false;
  #clientIdle = 0;
  #backendIdle = 0;
  /** The client's unsent response bytes when last looked at, and for how long none left. */
  #unsent = 0;
  #stalledFor = 0;

  /** `waitingOnClient`: the body is being read and the backend takes what it gets. */
  checkUpload(elapsed: number, waitingOnClient: boolean, bodyTimeout: number, proxyTimeout: number, stage: Stage): ProxyError | undefined {
    if (this.bodyMoved) {
      this.bodyMoved = false;
      this.#clientIdle = this.#backendIdle = 0;
      return undefined;
    }
    if (waitingOnClient) {
      this.#backendIdle = 0;
      this.#clientIdle += elapsed;
      if (bodyTimeout > 0 && this.#clientIdle >= bodyTimeout) {
        return new ProxyError('LB_ERR_CLIENT_BODY_TIMEOUT', `client sent none of its request body for ${bodyTimeout}ms`);
      }
      return undefined;
    }
    this.#clientIdle = 0;
    this.#backendIdle += elapsed;
    if (this.#backendIdle >= proxyTimeout) {
      return new ProxyError('LB_ERR_UPSTREAM_TIMEOUT', `backend took none of the request body for ${proxyTimeout}ms`, { stage });
    }
    return undefined;
  }

  /** The client stopped taking its response with `unsent` bytes waiting: the stall counts from now. */
  stalled(unsent: number): void {
    this.#unsent = unsent;
    this.#stalledFor = 0;
  }

  checkStall(elapsed: number, unsent: number, sendTimeout: number): ProxyError | undefined {
    if (unsent < this.#unsent) {
      this.stalled(unsent);
      return undefined;
    }
    this.#stalledFor += elapsed;
    if (this.#stalledFor >= sendTimeout) return new ProxyError('LB_ERR_CLIENT_SEND_TIMEOUT', `client took none of its response for ${sendTimeout}ms`);
    return undefined;
  }
}
