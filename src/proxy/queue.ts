import { performance } from 'node:perf_hooks';
import type { RequestContext } from '../context/index.js';
import type { Deadline } from './deadlines.js';
import { CLIENT_CLOSED, ProxyError } from '../errors/index.js';
import type { Proxy } from './proxy.js';

/**
 * A request waiting in the proxy's queue for a backend with room (HAProxy's queue with
 * `timeout queue`). It sits in the queue's list until the proxy sends it on, QUEUE_TIMEOUT passes
 * (503), or its client leaves.
 */
export class Waiting implements Deadline {
  deadline: number;
  prevDeadline: Deadline | undefined = undefined;
  nextDeadline: Deadline | undefined = undefined;
  queued = false;
  readonly ctx: RequestContext;
  readonly #proxy: Proxy;
  readonly #timeout: number;

  constructor(proxy: Proxy, ctx: RequestContext, timeout: number) {
    this.#proxy = proxy;
    this.ctx = ctx;
    this.#timeout = timeout;
    this.deadline = performance.now() + timeout;
  }

  /** QUEUE_TIMEOUT passed: 503 at once. */
  expire(): void {
    this.ctx.attempt = undefined;
    this.#proxy.fail(this.ctx, new ProxyError('LB_ERR_QUEUE_TIMEOUT', `no backend had room within ${this.#timeout}ms`));
  }

  /** The client left (or the request was cut) while waiting. */
  cancel(reason: Error): void {
    if (!this.queued) return;
    this.#proxy.leaveQueue(this);
    this.ctx.attempt = undefined;
    this.#proxy.fail(this.ctx, reason instanceof ProxyError ? reason : CLIENT_CLOSED);
  }
}
