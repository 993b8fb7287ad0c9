import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import pino from 'pino';
import { ContextResponse, RequestContext } from './request-context.js';

function context(remoteAddress: string): RequestContext {
  const req = { socket: { remoteAddress }, method: 'GET', url: '/x', headers: {} } as unknown as IncomingMessage;
  return new RequestContext(req, new ContextResponse(req), pino({ level: 'silent' }), 'http');
}

test('abort() cancels the running attempt and aborts the request signal with the same reason', () => {
  const ctx = context('127.0.0.1');
  const signal = ctx.signal;
  const cancelled: Error[] = [];
  ctx.attempt = { cancel: (reason) => cancelled.push(reason) };
  const reason = new Error('client closed');
  ctx.abort(reason);
  assert.deepEqual(cancelled, [reason]);
  assert.equal(signal.aborted, true);
  assert.equal(signal.reason, reason);
  assert.equal(ctx.clientClosed, true);
  assert.equal(ctx.status, 499);
});

test('unwraps IPv4-mapped IPv6 client addresses', () => {
  assert.equal(context('::ffff:10.1.2.3').clientIp, '10.1.2.3');
  assert.equal(context('::1').clientIp, '::1');
});
