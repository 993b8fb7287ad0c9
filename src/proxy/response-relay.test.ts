import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import type { HeaderEdit, HeadHolder } from '../context/index.js';
import type { Attempt } from './attempt.js';
import { Encoder, type Decision, type EncodedSink, type Encoding } from './compression/index.js';
import { encodeHead, endResponse, relayHead, type RelaySink, type ResponseRelay } from './response-relay.js';

/** The parts of an Attempt the relay uses, with what it was told. */
class FakeAttempt implements HeadHolder {
  relay: ResponseRelay | undefined = undefined;
  ended = false;
  completions = 0;
  readonly ctx: { responseModifier: HeaderEdit | undefined };
  readonly #decision: Decision;

  constructor(edit: HeaderEdit | undefined, decision: Decision = undefined) {
    this.ctx = { responseModifier: edit };
    this.#decision = decision;
  }

  compression(): Decision {
    return this.#decision;
  }

  encoder(encoding: Encoding, flushEach: boolean, sink: EncodedSink): Encoder {
    return new Encoder(encoding, 1, flushEach, sink);
  }

  completed(): boolean {
    if (this.ended) return false;
    this.ended = true;
    this.completions++;
    this.relay?.destroy();
    return true;
  }

  resumeHead(headers: string[]): void {
    this.relay?.resumeHead(headers);
  }

  get asAttempt(): Attempt {
    return this as unknown as Attempt;
  }
}

/** A transport's side: what the relay asked of it, in order. */
class Sink implements RelaySink<string[]> {
  readonly events: string[] = [];
  readonly body: Buffer[] = [];
  full = false;
  clientGone = false;
  ended: Promise<void>;
  #ended: () => void = () => undefined;
  readonly #attempt: FakeAttempt;

  constructor(attempt: FakeAttempt) {
    this.#attempt = attempt;
    this.ended = new Promise((resolve) => { this.#ended = resolve; });
  }

  sendHead(status: number, headers: string[]): void {
    const sent = encodeHead(this.#attempt.asAttempt, this, status, headers);
    this.events.push(`head ${status} ${sent.join(',')}`);
  }

  output(chunk: Buffer): boolean {
    this.body.push(chunk);
    this.events.push('output');
    return !this.full;
  }

  ready(): void {
    this.events.push('ready');
  }

  sendEnd(trailers: string[] | undefined): void {
    this.events.push(`end ${trailers?.join(',') ?? '-'}`);
    this.#ended();
  }

  failed(err: Error): void {
    this.events.push(`failed ${err.message}`);
  }
}

/** An edit whose onResponse holds the head until `release` is called with the edited fields. */
function holding(): { edit: HeaderEdit; release: (headers: string[]) => void } {
  let holder: HeadHolder | undefined;
  return {
    edit: { apply: (h) => [...h], hold: (_h, by) => { holder = by; return undefined; } },
    release: (headers) => holder!.resumeHead(headers),
  };
}

/** A response whose head a hook holds, with a chunk of its body kept meanwhile. */
function heldWithBody(): { attempt: FakeAttempt; sink: Sink; release: (headers: string[]) => void } {
  const { edit, release } = holding();
  const attempt = new FakeAttempt(edit);
  const sink = new Sink(attempt);
  relayHead(attempt.asAttempt, sink, 200, []);
  attempt.relay!.data(Buffer.from('kept'));
  return { attempt, sink, release };
}

test('with no hook and no compression the head, body and end go straight through, with no relay made', () => {
  const attempt = new FakeAttempt(undefined);
  const sink = new Sink(attempt);
  assert.equal(relayHead(attempt.asAttempt, sink, 200, ['a', '1']), true);
  assert.equal(attempt.relay, undefined);
  endResponse(attempt.asAttempt, sink, ['x', 'y']);
  assert.deepEqual(sink.events, ['head 200 a,1', 'end x,y']);
  assert.equal(attempt.completions, 1);
});

test('a synchronous edit goes at once and makes no relay', () => {
  const attempt = new FakeAttempt({ apply: (h) => [...h, 'b', '2'] });
  const sink = new Sink(attempt);
  assert.equal(relayHead(attempt.asAttempt, sink, 204, ['a', '1']), true);
  assert.equal(attempt.relay, undefined);
  assert.deepEqual(sink.events, ['head 204 a,1,b,2']);
});

test('a held head keeps the body and the end (with its trailers) until it goes, then the response ends in order', () => {
  const { edit, release } = holding();
  const attempt = new FakeAttempt(edit);
  const sink = new Sink(attempt);
  assert.equal(relayHead(attempt.asAttempt, sink, 200, ['a', '1']), false);
  const relay = attempt.relay!;
  assert.equal(relay.data(Buffer.from('one')), false, 'the backend pauses while the head is held');
  assert.equal(relay.data(Buffer.from('two')), false);
  assert.equal(relay.drained(), true, 'a drain does not read the backend while the head is held');
  endResponse(attempt.asAttempt, sink, ['t', 'v']);
  assert.deepEqual(sink.events, [], 'nothing reaches the client before the hook settles');
  release(['a', '1', 'hooked', 'yes']);
  assert.deepEqual(sink.events, ['head 200 a,1,hooked,yes', 'output', 'output', 'end t,v']);
  assert.equal(Buffer.concat(sink.body).toString(), 'onetwo');
  assert.equal(attempt.completions, 1);
});

test('a held head that goes before the end lets the body go straight through again (the relay is let go)', () => {
  const { attempt, sink, release } = heldWithBody();
  release(['h', '1']);
  assert.deepEqual(sink.events, ['head 200 h,1', 'output', 'ready']);
  assert.equal(attempt.relay, undefined);
  endResponse(attempt.asAttempt, sink, undefined);
  assert.deepEqual(sink.events.at(-1), 'end -');
});

test('a held head whose kept body fills the client waits for its drain: no ready', () => {
  const { sink, release } = heldWithBody();
  sink.full = true;
  release([]);
  assert.deepEqual(sink.events, ['head 200 ', 'output']);
});

test('a head held past the end of the attempt, or of the client, is never sent', () => {
  for (const gone of ['attempt', 'client']) {
    const { attempt, sink, release } = heldWithBody();
    if (gone === 'attempt') attempt.ended = true;
    else sink.clientGone = true;
    release([]);
    assert.deepEqual(sink.events, [], gone);
  }
});

test('a compressed body goes through the encoder, and the end with its trailers follows its last bytes', async () => {
  const attempt = new FakeAttempt(undefined, 'gzip');
  const sink = new Sink(attempt);
  assert.equal(relayHead(attempt.asAttempt, sink, 200, ['content-type', 'text/plain', 'content-length', '10']), true);
  assert.deepEqual(sink.events, ['head 200 content-type,text/plain,vary,Accept-Encoding,content-encoding,gzip']);
  const relay = attempt.relay!;
  assert.ok(relay !== undefined && relay.encoder !== undefined);
  relay.data(Buffer.from('hello '));
  relay.data(Buffer.from('world'));
  endResponse(attempt.asAttempt, sink, ['grpc-status', '0']);
  await sink.ended;
  assert.equal(sink.events.at(-1), 'end grpc-status,0');
  assert.equal(gunzipSync(Buffer.concat(sink.body)).toString(), 'hello world');
  assert.equal(attempt.completions, 1);
});

test('identity (Vary only) changes the head and makes no relay', () => {
  const attempt = new FakeAttempt(undefined, 'identity');
  const sink = new Sink(attempt);
  relayHead(attempt.asAttempt, sink, 200, ['content-type', 'text/plain']);
  assert.equal(attempt.relay, undefined);
  assert.deepEqual(sink.events, ['head 200 content-type,text/plain,vary,Accept-Encoding']);
});
