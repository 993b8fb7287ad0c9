import { Agent } from 'undici';
import { PolicyRefusals } from '../../metrics/policy-refusals.js';

/**
 * What every authentication filter of a balancer shares across routing tables (a reload makes
 * new filters, not new connections or counters): the refusal counts, and one undici Agent for
 * ForwardAuth sub-requests, made on first use and closed when the balancer stops.
 */
export class AuthShared {
  readonly refusals: PolicyRefusals;
  #agent: Agent | undefined;

  constructor(refusals = new PolicyRefusals()) {
    this.refusals = refusals;
  }

  get agent(): Agent {
    return (this.#agent ??= new Agent({ connections: 64, keepAliveTimeout: 4000 }));
  }

  async close(): Promise<void> {
    const agent = this.#agent;
    this.#agent = undefined;
    await agent?.destroy();
  }
}
