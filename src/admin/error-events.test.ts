import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import pino from 'pino';
import { ContextResponse, RequestContext } from '../context/index.js';
import { Backend, parseBackendText } from '../pool/index.js';
import { ERROR_EVENTS_PER_SECOND, recordErrors } from './error-events.js';
import { EventLog } from './events.js';

const log = pino({ enabled: false });

function ended(status: number, id: string, traceId?: string): RequestContext {
  const req = { socket: { remoteAddress: '127.0.0.1' }, method: 'GET', url: '/orders', headers: {}, httpVersionMajor: 1 } as unknown as IncomingMessage;
  const ctx = new RequestContext(req, new ContextResponse(req), log, 'http');
  ctx.id = id;
  ctx.res.statusCode = status;
  ctx.backend = new Backend(parseBackendText('http://127.0.0.1:9000|id=api-1'));
  ctx.traceId = traceId;
  return ctx;
}

test('a 5xx request goes on the timeline with its request id, trace id and explanation; below 500 nothing does', () => {
  const events = new EventLog();
  const record = recordErrors(events, () => 1_000);
  record.onEnd!(ended(200, 'ok-1'));
  record.onEnd!(ended(404, 'nf-1'));
  const failed = ended(502, 'req-1', '4bf92f3577b34da6a3ce929d0e0e4736');
  failed.error = { code: 'LB_ERR_UPSTREAM_CONNECT', status: 502, message: 'connection refused' };
  failed.tries = 2;
  record.onEnd!(failed);
  record.onEnd!(ended(500, 'req-2'));
  const recent = events.recent();
  assert.equal(recent.length, 2);
  assert.deepEqual({ ...recent[0], time: 0 }, {
    time: 0, kind: 'error', backend: 'api-1', message: '502 GET /orders LB_ERR_UPSTREAM_CONNECT', requestId: 'req-1', traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    explain: 'status 502, error LB_ERR_UPSTREAM_CONNECT: connection refused, backend api-1, tries 2, pool default',
  });
  assert.equal(recent[1]!.requestId, 'req-2');
  assert.equal('traceId' in recent[1]!, false, 'no trace id for an untraced request');
});

test('error events are bounded per second; those left out are counted in the next one recorded', () => {
  const events = new EventLog();
  let now = 5_000;
  const record = recordErrors(events, () => now);
  for (let i = 0; i < ERROR_EVENTS_PER_SECOND + 3; i++) record.onEnd!(ended(503, `r${i}`));
  assert.equal(events.recent().length, ERROR_EVENTS_PER_SECOND);
  now += 1_000;
  record.onEnd!(ended(503, 'next'));
  const last = events.recent().at(-1)!;
  assert.equal(last.requestId, 'next');
  assert.match(last.message, /\(3 more not shown\)$/);
});
