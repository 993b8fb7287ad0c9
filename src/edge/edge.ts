import type { RequestContext } from '../context/index.js';
import { ProxyError } from '../errors/index.js';
import type { Middleware } from '../middleware/index.js';
import { AccessList } from './access-list.js';
import { CidrSet } from './cidr.js';
import { forwardedClient } from './client-address.js';
import { PolicyRefusals } from '../metrics/index.js';
import { ProxyGate } from './proxy-gate.js';
import type { ProxyProtocolMode } from './proxy-protocol.js';
import type { Logger } from 'pino';
import { notePolicy, ruleOf, shownKey } from '../proxy/policy-explain.js';

/** The edge settings this module applies (the config's `edge` section). */
export interface EdgeSettings {
  readonly trustedProxies: readonly string[];
  readonly allowCidrs: readonly string[];
  readonly denyCidrs: readonly string[];
  readonly proxyProtocol: ProxyProtocolMode;
}

const ACCESS_DENIED = new ProxyError('LB_ERR_ACCESS_DENIED', 'the client address is refused by an access list');
/** What a refused client is told (the router answers it; a gRPC call gets PERMISSION_DENIED instead). */
export const ACCESS_DENIED_BODY = Buffer.from('403 Forbidden\n');

/**
 * The policies at the front door, built once from the configuration: who the client is
 * (TRUSTED_PROXIES) and whether it may come in (ALLOW_CIDRS, DENY_CIDRS, a route's AccessList).
 * With all of them off nothing runs per request: no middleware, one undefined check in `admit`.
 */
export class Edge {
  /** Peers whose X-Forwarded-For and Forwarded are believed; undefined: none. */
  readonly trusted: CidrSet | undefined;
  /** ALLOW_CIDRS and DENY_CIDRS; undefined when both are empty. */
  readonly accessList: AccessList | undefined;
  readonly refusals: PolicyRefusals;
  /** PROXY_PROTOCOL on: what the listeners read each connection's header with. */
  readonly proxyGate: ProxyGate | undefined;

  constructor(settings: EdgeSettings, log: Logger, refusals = new PolicyRefusals()) {
    this.refusals = refusals;
    this.trusted = settings.trustedProxies.length === 0 ? undefined : new CidrSet(settings.trustedProxies);
    const list = new AccessList({ allow: settings.allowCidrs, deny: settings.denyCidrs });
    this.accessList = list.empty ? undefined : list;
    // The loader has made sure TRUSTED_PROXIES is set when PROXY_PROTOCOL is on.
    this.proxyGate = settings.proxyProtocol === 'off' || this.trusted === undefined ? undefined : new ProxyGate(settings.proxyProtocol, this.trusted, log);
  }

  /**
   * The chain's step that sets the real client address: from X-Forwarded-For or Forwarded when
   * the connection comes from a trusted proxy. Undefined when no proxy is trusted.
   */
  clientAddress(): Middleware | undefined {
    const trusted = this.trusted;
    if (trusted === undefined) return undefined;
    return {
      name: 'client-address',
      handle: (ctx, next) => {
        const peer = ctx.clientIp;
        if (trusted.has(peer)) ctx.clientIp = forwardedClient(peer, ctx.req.headers, trusted);
        next(ctx);
      },
    };
  }

  /**
   * Whether the request may go on to a pool: the route's access list when it has one, else the
   * global one. A refused request has its error and rule (the access line's `policy`) set and is
   * counted; the caller answers it 403 with ACCESS_DENIED_BODY (routing's `answer`, which answers
   * a gRPC call PERMISSION_DENIED).
   */
  admit(ctx: RequestContext, routeList: AccessList | undefined): boolean {
    const list = routeList ?? this.accessList;
    if (list === undefined) return true;
    const rule = list.refusal(ctx.clientIp);
    if (ctx.explaining === true) {
      notePolicy(ctx, {
        policy: 'access-list', rule: ruleOf(ctx.route, routeList === undefined ? undefined : 'AccessList', 'ALLOW_CIDRS, DENY_CIDRS'),
        key: shownKey('ip', ctx.clientIp), decision: rule === undefined ? 'allowed' : 'refused', match: rule ?? null,
      });
    }
    if (rule === undefined) return true;
    ctx.error = ACCESS_DENIED;
    ctx.policy = rule;
    this.refusals.add('access-list', ctx.route);
    return false;
  }
}
