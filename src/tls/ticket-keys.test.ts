import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TICKET_KEY_BYTES, TicketKeys } from './ticket-keys.js';

test('the ticket key is handed out at start and a new one at each rotation (48 bytes each, with the previous after a rotation)', () => {
  const handed: Buffer[] = [];
  const keys = new TicketKeys(3_600_000, (k) => handed.push(k));
  keys.start();
  assert.equal(handed.length, 1, 'handed out at start');
  keys.rotate();
  keys.rotate();
  keys.stop();
  assert.equal(handed.length, 3);
  assert.deepEqual(handed.map((k) => k.length), [TICKET_KEY_BYTES, 2 * TICKET_KEY_BYTES, 2 * TICKET_KEY_BYTES]);
  assert.equal(new Set(handed.map((k) => k.subarray(0, TICKET_KEY_BYTES).toString('hex'))).size, 3);
  assert.deepEqual(keys.current, handed[2]!.subarray(0, TICKET_KEY_BYTES));
  assert.equal(keys.rotations, 2);
});

test('after a rotation the previous key is handed out behind the current one; the key before it is dropped', () => {
  const handed: Buffer[] = [];
  let n = 0;
  const keys = new TicketKeys(3_600_000, (k) => handed.push(k), () => Buffer.alloc(TICKET_KEY_BYTES, ++n));
  keys.start();
  assert.deepEqual(handed[0], Buffer.alloc(TICKET_KEY_BYTES, 1), 'at start: the current key alone');
  keys.rotate();
  assert.deepEqual(handed[1], Buffer.concat([Buffer.alloc(TICKET_KEY_BYTES, 2), Buffer.alloc(TICKET_KEY_BYTES, 1)]), 'the new key, then the previous');
  keys.rotate();
  assert.deepEqual(handed[2], Buffer.concat([Buffer.alloc(TICKET_KEY_BYTES, 3), Buffer.alloc(TICKET_KEY_BYTES, 2)]), 'the first key is gone');
  assert.equal(keys.keys, handed[2], 'what a worker that starts now is given');
  assert.deepEqual(keys.current, Buffer.alloc(TICKET_KEY_BYTES, 3));
  keys.stop();
});
