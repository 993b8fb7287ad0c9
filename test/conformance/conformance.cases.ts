import type { EngineName } from '../helpers/in-process.js';
import { backendConnectionCases } from './cases/backend-connections.js';
import { connectionCases } from './cases/connections.js';
import { failureCases } from './cases/failures.js';
import { forwardingCases } from './cases/forwarding.js';
import { retryCases } from './cases/retries.js';
import { protocolCases } from './cases/protocol.js';
import { streamingCases } from './cases/streaming.js';
import { framingCases } from './cases/framing.js';
import { trailerCases } from './cases/trailers.js';
import { hookCases } from './cases/hooks.js';
import { earlyAnswerCases } from './cases/early-answers.js';

/**
 * The proxy's rules, one `describe` per concern, run against a balancer in this process on
 * `engine`. Every engine runs the same cases (Hono's shared router cases): a rule that holds on
 * one engine and not on the other is a drift, marked `todo: 'engine drift: …'` where it is known.
 */
export function runConformance(engine: EngineName): void {
  forwardingCases(engine);
  streamingCases(engine);
  failureCases(engine);
  retryCases(engine);
  connectionCases(engine);
  framingCases(engine);
  protocolCases(engine);
  backendConnectionCases(engine);
  trailerCases(engine);
  hookCases(engine);
  earlyAnswerCases(engine);
}
