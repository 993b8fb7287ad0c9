import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TICKET_KEY_BYTES, TicketKeys } from './ticket-keys.js';

test('the ticket key is handed out at start and a new one at each rotation, 48 bytes each', () => {
  const handed: Buffer[] = [];
  const keys = new TicketKeys(3_600_000, (k) => handed.push(k));
  keys.start();
  assert.equal(handed.length, 1, 'handed out at start');
  keys.rotate();
  keys.rotate();
  keys.stop();
  assert.equal(handed.length, 3);
  assert.ok(handed.every((k) => k.length === TICKET_KEY_BYTES));
  assert.equal(new Set(handed.map((k) => k.toString('hex'))).size, 3);
  assert.equal(keys.current, handed[2]);
  assert.equal(keys.rotations, 2);
});
