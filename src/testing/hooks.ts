import type { Socket } from 'node:net';
import pino, { type Logger } from 'pino';
import { RequestContext, type ClientRequest, type ClientResponse } from '../context/request-context.js';
import { ProxyError } from '../errors/index.js';
import { enterHooks, HookErrors, HookSet, named, type Hooks, type ProxySeam } from '../hooks/index.js';
import type { Backend } from '../pool/index.js';
import type { Attempt } from '../proxy/attempt.js';
import { headersObject } from '../proxy/headers.js';
import type { Transport } from '../proxy/transport.js';
import type { RouteTarget } from '../routing/compiled-route.js';

/** A request as the script gives it. */
export interface ScriptedRequest {
  readonly method?: string;
  /** Path and query (default `/`). */
  readonly url?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** The client's address (default 127.0.0.1). */
  readonly clientAddress?: string;
  /** Its request id (default `test-request`). */
  readonly id?: string;
}

/** A backend as the script gives it: an id, or its fields. */
export interface ScriptedBackend {
  readonly id: string;
  readonly url?: string;
  readonly weight?: number;
  readonly inFlight?: number;
  /** BACKEND_MAX_REQUESTS for it (0: no limit): with inFlight at it, it is full. */
  readonly maxRequests?: number;
}

export interface HookScript {
  readonly request?: ScriptedRequest;
  /** The pools a hook may choose (`usePool`), each with its backends; the first is where routing sends the request. Default: `default` with backend `a`. */
  readonly pools?: Readonly<Record<string, readonly (string | ScriptedBackend)[]>>;
  /** What the backend answers (default 200 with no fields). */
  readonly response?: { readonly status: number; readonly headers?: Readonly<Record<string, string>> };
  /** HOOK_TIMEOUT in ms (default 1000). */
  readonly timeout?: number;
  readonly logger?: Logger;
}

/** What happened to the scripted request. */
export interface HookOutcome {
  /** The status the client got. */
  readonly status: number;
  /** The response's fields as the client got them, in order. */
  readonly headers: readonly [string, string][];
  /** Its body, when the balancer (or a hook) answered; '' for a backend's response. */
  readonly body: string;
  /** The error code of the balancer's answer (LB_ERR_HOOK_FAILED, LB_ERR_HOOK_TIMEOUT, LB_ERR_NO_BACKEND, …). */
  readonly error: string | undefined;
  /** The pool it went to ('' when answered before one). */
  readonly pool: string;
  /** The backend it was sent to. */
  readonly backend: string | undefined;
  /** The head the backend was sent (forwarding headers aside), when it was sent. */
  readonly upstream: { readonly method: string; readonly url: string; readonly headers: readonly [string, string][] } | undefined;
  /** The access line as onLog left it; undefined when a hook kept it from the log. */
  readonly log: Record<string, unknown> | undefined;
  /** The request's `state` at its end. */
  readonly state: Record<string, unknown>;
  /** Failures and timeouts counted, by `hook\nphase`. */
  readonly hookErrors: Readonly<Record<string, number>>;
}

/**
 * Runs `hooks` (in order, as the global hooks of a balancer) on one scripted request against
 * scripted pools and a scripted backend answer, without a socket: the balancer's own hook
 * runner, with the proxy and the transport played by the script. The strategy takes the first
 * backend of the pool with room.
 *
 * ```ts
 * const out = await runHooks(myHooks, { request: { url: '/ping' } });
 * assert.equal(out.status, 200);
 * ```
 */
export function runHooks(hooks: Hooks | readonly Hooks[], script: HookScript = {}): Promise<HookOutcome> {
  const list = (Array.isArray(hooks) ? hooks : [hooks]) as readonly Hooks[];
  const log = script.logger ?? pino({ level: 'silent' });
  const errors = new HookErrors();
  return new Promise((resolve) => {
    const response = new ScriptedResponse(() => finish());
    const raw = Object.entries(script.request?.headers ?? {}).flat();
    const req: ClientRequest = {
      method: script.request?.method ?? 'GET',
      url: script.request?.url ?? '/',
      headers: headersObject(raw),
      rawHeaders: raw,
      httpVersionMajor: 1,
      complete: true,
      socket: { remoteAddress: script.request?.clientAddress ?? '127.0.0.1' } as unknown as Socket,
    };
    const ctx = new RequestContext(req, response, log, 'http');
    ctx.id = script.request?.id ?? 'test-request';
    let upstream: HookOutcome['upstream'];
    let ended = false;
    const finish = (): void => {
      if (ended) return;
      ended = true;
      const run = ctx.hooks!;
      const line: Record<string, unknown> = {
        reqId: ctx.id, method: ctx.method, path: ctx.path, status: ctx.status, bytes: ctx.bytes, backend: ctx.backend?.id,
        route: ctx.route === '' ? undefined : ctx.route, pool: ctx.pool === '' ? undefined : ctx.pool, client: ctx.clientIp, error: ctx.error?.code,
      };
      const kept = run.logLine(line);
      resolve({
        status: ctx.status, headers: response.fields, body: response.body, error: ctx.error?.code, pool: ctx.pool,
        backend: ctx.backend?.id, upstream, log: kept ? line : undefined, state: run.state, hookErrors: errors.image() ?? {},
      });
    };
    const transport = {
      send(attempt: Attempt): void {
        const pairs: [string, string][] = [];
        for (let i = 0; i + 1 < ctx.req.rawHeaders.length; i += 2) pairs.push([ctx.req.rawHeaders[i]!, ctx.req.rawHeaders[i + 1]!]);
        upstream = { method: ctx.method, url: ctx.path, headers: pairs };
        const answer = script.response ?? { status: 200 };
        ctx.hooks!.status = answer.status;
        const head = Object.entries(answer.headers ?? {}).flat();
        const relay = (sent: readonly string[]): void => {
          if ((attempt as unknown as { ended: boolean }).ended) return;
          response.statusCode = answer.status;
          for (let i = 0; i + 1 < sent.length; i += 2) response.appendHeader(sent[i]!, sent[i + 1]!);
          (attempt as unknown as { ended: boolean }).ended = true;
          response.end();
        };
        const edit = ctx.responseModifier;
        // As the engines do: an asynchronous onResponse holds the head until it settles.
        const sent = edit === undefined ? head : edit.hold === undefined ? edit.apply(head) : edit.hold(head, { resumeHead: relay });
        if (sent !== undefined) relay(sent);
      },
    } as unknown as Transport;
    const seam: ProxySeam = {
      picked(c, backend) {
        if (backend === undefined) { seam.fail(c, new ProxyError('LB_ERR_NO_BACKEND', 'no backend available')); return; }
        c.backend = backend;
        const attempt = { ended: false, failed: (error: ProxyError) => { attempt.ended = true; seam.fail(c, error); }, cancel: (error: ProxyError) => { if (!attempt.ended) attempt.failed(error); } };
        c.attempt = attempt;
        c.hooks!.send(attempt as unknown as Attempt, transport);
      },
      sendQueued(c, backend) {
        seam.picked(c, backend);
      },
      retryPicked(c, _failed, backend) {
        seam.picked(c, backend);
      },
      fail(c, error) {
        c.error = error;
        if (c.hooks?.answerError(seam, error) === true) return;
        seam.answer(c, error);
      },
      answer(c, error) {
        const body = Buffer.from(`${error.status} ${error.message}\n`);
        response.statusCode = error.status;
        response.setHeader('content-type', 'text/plain; charset=utf-8');
        const extra = c.responseHeaders;
        if (extra !== undefined) for (let i = 0; i + 1 < extra.length; i += 2) response.appendHeader(extra[i]!, extra[i + 1]!);
        c.bytes = body.length;
        response.end(body);
      },
    };
    const pools = script.pools ?? { default: ['a'] };
    const targets = new Map<string, RouteTarget>();
    for (const [name, backends] of Object.entries(pools)) {
      const candidates = backends.map((b) => scriptedBackend(typeof b === 'string' ? { id: b } : b));
      const handle = (c: RequestContext): void => {
        c.pool = name;
        const pick = candidates.find((b) => b.maxRequests === 0 || b.inFlight < b.maxRequests);
        if (c.hooks?.selects === true) c.hooks.select(seam, candidates, pick);
        else seam.picked(c, pick);
      };
      targets.set(name, { name, pool: undefined as never, proxy: { handle, timeout: 0 } });
    }
    const set = new HookSet(list.map((h, i) => named(h, h.name ?? `hooks[${i}]`)), new Map(), { timeout: script.timeout ?? 1000, errors, log, targets: () => targets });
    const first = targets.values().next().value;
    if (first === undefined) throw new Error('runHooks: no pool in the script');
    enterHooks(set, ctx, first.proxy.handle);
  });
}

function scriptedBackend(b: ScriptedBackend): Backend {
  return { id: b.id, url: b.url ?? `http://${b.id}.test`, weight: b.weight ?? 1, inFlight: b.inFlight ?? 0, maxRequests: b.maxRequests ?? 0 } as unknown as Backend;
}

/** The client's side of the scripted request: what was answered. */
class ScriptedResponse implements ClientResponse {
  statusCode = 200;
  headersSent = false;
  shouldKeepAlive = true;
  body = '';
  readonly fields: [string, string][] = [];
  readonly #ended: () => void;

  constructor(ended: () => void) {
    this.#ended = ended;
  }

  setHeader(name: string, value: string | number): this {
    const lower = name.toLowerCase();
    for (let i = this.fields.length - 1; i >= 0; i--) if (this.fields[i]![0].toLowerCase() === lower) this.fields.splice(i, 1);
    this.fields.push([name, String(value)]);
    return this;
  }

  appendHeader(name: string, value: string): this {
    this.fields.push([name, value]);
    return this;
  }

  end(body?: Buffer): this {
    if (this.headersSent) return this;
    this.headersSent = true;
    if (body !== undefined) this.body = body.toString('utf8');
    this.#ended();
    return this;
  }

  destroy(): this {
    return this.end();
  }
}
