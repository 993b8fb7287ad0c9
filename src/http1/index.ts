/**
 * The HTTP/1.1 rules both engines' listeners share (node:http's and the fast engine's): limits,
 * the versions answered, framing checks, request-target normalisation, the status of a parse
 * error, raw error responses, and how a listener listens. Header-name comparison (`isHeader`)
 * is shared too, from `proxy/headers.ts`, which the forwarding rules also use.
 */
export { declaresBody, framingProblem, unreadBody } from './framing.js';
export { VERSION_NOT_SUPPORTED, versionProblem } from './http-version.js';
export { DEFAULT_LIMITS, type ClientLimits } from './limits.js';
export { listenOn, stopListening, type Listener } from './listener.js';
export { overflowedInRequestLine, parseErrorStatus, type ParseError } from './parse-error.js';
export { writeRawError } from './raw-response.js';
export { headRefusal, type Refusal } from './refusal.js';
export { normalizeTarget } from './request-target.js';
export { MAX_PIPELINED, PipelineGate } from './pipelining.js';
export { InFlight } from './in-flight.js';
