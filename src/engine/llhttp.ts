import { createRequire } from 'node:module';
import { isHeader } from '../proxy/headers.js';

/**
 * Node's own llhttp binding, the parser node:http drives, driven the same way. With
 * `direct-write.ts` (socket writes), this is one of the two files that reach into Node's
 * internals: `_http_common` exports the binding's `HTTPParser` on every line from 20 to 26
 * (`process.binding('http_parser')` is gone from 22 on). The
 * parser runs strict (no lenient flags). `selfTest()` checks at start-up that it still behaves
 * as this file expects; the fast engine is used only when it does.
 */

/** The binding's parser, as far as this file uses it. */
interface BindingParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | NativeParseError;
  finish(): undefined | NativeParseError;
  close(): void;
  [slot: number]: ((...args: any[]) => unknown) | undefined;
}

interface BindingClass {
  new (): BindingParser;
  readonly REQUEST: number;
  readonly RESPONSE: number;
  readonly kOnMessageBegin: number;
  readonly kOnHeaders: number;
  readonly kOnHeadersComplete: number;
  readonly kOnBody: number;
  readonly kOnMessageComplete: number;
  readonly kLenientNone?: number;
}

/** What llhttp reports on a message it refuses. */
export interface NativeParseError extends Error {
  readonly code: string;
  readonly reason?: string;
  readonly bytesParsed?: number;
}

/** What a parser reports: one callback object per parser, no closure per message. */
export interface ParserEvents {
  /**
   * A message head. Requests: `method` and `url` set, `status` 0. Responses: `status` and
   * `statusText`. Returns what follows: BODY (the parser reads the body), NO_BODY (a response to
   * HEAD), or RAW: the parser stops after this head (its message ends at once) and the caller
   * reads the body's bytes itself (a response whose Content-Length llhttp has checked); that
   * message's end is not reported.
   */
  onHead(versionMinor: number, rawHeaders: string[], method: string, url: string, status: number, statusText: string, upgrade: boolean, keepAlive: boolean): HeadResult;
  onBody(chunk: Buffer): void;
  /**
   * The message is complete. `trailers`: the fields after a chunked body's last chunk (name,
   * value, …, as the head's come), when it had some; undefined otherwise.
   */
  onMessageEnd(trailers?: string[]): void;
}

/** What a head's callback tells the parser (llhttp's on_headers_complete return values). */
export const BODY = 0;
export const NO_BODY = 1;
export const RAW = 2;
export type HeadResult = typeof BODY | typeof NO_BODY | typeof RAW;

let binding: { HTTPParser: BindingClass; methods: readonly string[] } | undefined;

function load(): { HTTPParser: BindingClass; methods: readonly string[] } {
  return binding ??= createRequire(import.meta.url)('_http_common') as { HTTPParser: BindingClass; methods: readonly string[] };
}

/** Either kind of message: a request (client side) or a response (backend side). */
export const REQUEST = 0;
export const RESPONSE = 1;

/** What a parser kept for reuse reports to: nothing (it holds no connection meanwhile). */
const UNUSED: ParserEvents = { onHead: () => BODY, onBody: () => undefined, onMessageEnd: () => undefined };

/**
 * Request parsers released by closed connections, re-initialised for new ones (node:http keeps
 * such a free list too): a new native parser and its callbacks cost several µs per connection,
 * which a client opening a connection per request pays per request. At most this many are kept.
 */
const POOL_MAX = 1000;
const pool: Parser[] = [];

/**
 * One llhttp parser for one connection. Heads of more than 32 headers arrive in parts
 * (the binding flushes them early); they are put back together here. A chunked body's trailers
 * come the same way as a head's early parts, after the body and before its end: what has been
 * gathered when the end comes is the trailers. A request parser is taken with `forRequest` and
 * given back with `release`: its callbacks are made once and reach the connection through a
 * field, so that one parser serves one connection after another.
 */
export class Parser {
  readonly #parser: BindingParser;
  readonly #kind: typeof REQUEST | typeof RESPONSE;
  #events: ParserEvents;
  #headers: string[] | undefined = undefined;
  #url = '';
  /** The major version of the last head (`onHead` gives the minor): 1, or 2 or 0 for a request line that says so. */
  versionMajor = 1;
  /** Whether llhttp's end callback is set (see `endsCanBeTakenOff`). */
  #reportingEnd = true;
  /** The next end llhttp reports is the one right after a RAW head: not reported. */
  #ignoreEnd = false;

  /** A request parser for a new connection: one a closed connection released, re-initialised, else a new one. */
  static forRequest(maxHeaderSize: number, events: ParserEvents): Parser {
    const reused = pool.pop();
    if (reused === undefined) return new Parser(REQUEST, maxHeaderSize, events);
    reused.#reuse(maxHeaderSize, events);
    return reused;
  }

  constructor(kind: typeof REQUEST | typeof RESPONSE, maxHeaderSize: number, events: ParserEvents) {
    const { HTTPParser, methods } = load();
    this.#kind = kind;
    this.#events = events;
    const parser = this.#parser = new HTTPParser();
    parser.initialize(kind === REQUEST ? HTTPParser.REQUEST : HTTPParser.RESPONSE, {}, maxHeaderSize, HTTPParser.kLenientNone ?? 0);
    const toggle = endsCanBeTakenOff();
    // No message-begin callback: each one is a call from C++ into JS, and there is nothing to
    // reset then that the end of the previous head has not reset already. Its slot is filled
    // all the same, first, as node:http fills them: the binding looks a callback up at each
    // event, and a slot left empty (a hole before the others) makes that lookup walk the
    // parser's prototypes for it.
    parser[HTTPParser.kOnMessageBegin] = undefined;
    parser[HTTPParser.kOnHeaders] = (headers: string[], url: string) => {
      if (this.#headers === undefined) this.#headers = headers;
      else this.#headers.push(...headers);
      this.#url += url;
    };
    parser[HTTPParser.kOnHeadersComplete] = (major: number, minor: number, headers: string[] | undefined, method: number | undefined,
      url: string | undefined, status: number | undefined, statusText: string | undefined, upgrade: boolean, keepAlive: boolean) => {
      if (headers === undefined) {
        headers = this.#headers ?? [];
        url = this.#url;
      }
      this.#headers = undefined;
      this.#url = '';
      this.versionMajor = major;
      const events = this.#events;
      const result = events.onHead(minor, headers, method === undefined ? '' : methods[method]!, url ?? '', status ?? 0, statusText ?? '', upgrade, keepAlive);
      // The end llhttp reports right after a RAW head is not the body's: it is not reported.
      // Where the binding lets its callback be taken off for a message, ends llhttp would
      // report at once are reported here instead, without its call from C++ into JS: none
      // after a RAW head, and, for a request with neither Content-Length nor Transfer-Encoding
      // (it has no body), its end right after its head.
      if (!toggle) {
        this.#ignoreEnd = result === RAW;
        return result;
      }
      const bodyless = kind === REQUEST && result === BODY && !framed(headers);
      const reportEnd = result !== RAW && !bodyless;
      if (reportEnd !== this.#reportingEnd) {
        this.#reportingEnd = reportEnd;
        parser[HTTPParser.kOnMessageComplete] = reportEnd ? end : undefined;
      }
      if (bodyless) events.onMessageEnd();
      return result;
    };
    parser[HTTPParser.kOnBody] = (chunk: Buffer) => this.#events.onBody(chunk);
    const end = (): void => {
      if (this.#ignoreEnd) {
        this.#ignoreEnd = false;
        return;
      }
      const trailers = this.#headers;
      if (trailers === undefined) {
        this.#events.onMessageEnd();
        return;
      }
      // Trailers: they belong to this message, never to the next one's head.
      this.#headers = undefined;
      this.#url = '';
      this.#events.onMessageEnd(trailers);
    };
    parser[HTTPParser.kOnMessageComplete] = end;
  }

  /** A released request parser, for another connection: llhttp's state and what this class gathered start afresh. */
  #reuse(maxHeaderSize: number, events: ParserEvents): void {
    const { HTTPParser } = load();
    this.#parser.initialize(HTTPParser.REQUEST, {}, maxHeaderSize, HTTPParser.kLenientNone ?? 0);
    this.#events = events;
    this.#closed = false;
    this.#headers = undefined;
    this.#url = '';
    this.#ignoreEnd = false;
    this.versionMajor = 1;
  }

  /** Parses `data`; returns the bytes taken (all of them, or up to the end of an Upgrade's or a RAW head), or the error. */
  execute(data: Buffer): number | NativeParseError {
    return this.#parser.execute(data);
  }

  /** The connection ended: a message delimited by the close is complete now, any other is an error. */
  finish(): NativeParseError | undefined {
    return this.#parser.finish();
  }

  /** Frees the native parser (and what it holds: its callbacks, the connection they reach); once. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#parser.close();
  }

  /**
   * The connection is done with it (never from within its own `execute`): a request parser is
   * kept for the next connection, holding nothing of this one; any other, or one beyond
   * POOL_MAX, is closed. Once; the caller never uses it again.
   */
  release(): void {
    if (this.#closed) return;
    if (this.#kind !== REQUEST || pool.length >= POOL_MAX) {
      this.close();
      return;
    }
    this.#closed = true;
    this.#events = UNUSED;
    this.#headers = undefined;
    this.#url = '';
    pool.push(this);
  }

  get closed(): boolean {
    return this.#closed;
  }

  #closed = false;
}

let toggles: boolean | undefined;

/**
 * Whether a parser's end callback can be taken off and put back between messages. Up to
 * Node.js 24 it can: the binding looks the callback up at each end. Node.js 26 keeps the one it
 * called first, so there the callback stays, and an end to be ignored is ignored when it comes.
 * Found out once, on two canned requests.
 */
function endsCanBeTakenOff(): boolean {
  if (toggles !== undefined) return toggles;
  const { HTTPParser } = load();
  const probe = new HTTPParser();
  probe.initialize(HTTPParser.REQUEST, {}, 1024, HTTPParser.kLenientNone ?? 0);
  let ends = 0;
  probe[HTTPParser.kOnHeadersComplete] = () => 0;
  probe[HTTPParser.kOnMessageComplete] = () => { ends++; };
  probe.execute(Buffer.from('GET /a HTTP/1.1\r\nHost: a\r\n\r\n', 'latin1'));
  probe[HTTPParser.kOnMessageComplete] = undefined;
  probe.execute(Buffer.from('GET /b HTTP/1.1\r\nHost: a\r\n\r\n', 'latin1'));
  probe.close();
  return toggles = ends === 1;
}

/** Whether a request's head declares a body: a Content-Length or Transfer-Encoding field, whatever its value. */
function framed(headers: readonly string[]): boolean {
  for (let i = 0; i < headers.length; i += 2) {
    if (isHeader(headers[i]!, 'content-length') || isHeader(headers[i]!, 'transfer-encoding')) return true;
  }
  return false;
}

/**
 * Checks the binding on canned messages: what the engine relies on (heads, bodies by length
 * and chunked, trailers, pipelining, long heads, refusals of smuggling vectors, responses, HEAD) must
 * come out as expected. Returns undefined when it does, else what differed.
 */
export function selfTest(): string | undefined {
  try {
    load();
  } catch (err) {
    return `llhttp binding not available: ${(err as Error).message}`;
  }
  try {
    const seen: string[] = [];
    const events = (result: HeadResult = BODY): ParserEvents => ({
      onHead: (minor, headers, method, url, status, statusText, upgrade, keepAlive) => {
        seen.push(`head ${method}${url}${status || ''}${statusText} 1.${minor} ${headers.length / 2} ${upgrade ? 'up' : ''}${keepAlive ? 'ka' : ''}`);
        return result;
      },
      onBody: (chunk) => seen.push(`body ${chunk.toString('latin1')}`),
      onMessageEnd: (trailers) => seen.push(trailers === undefined ? 'end' : `end ${trailers.join(',')}`),
    });
    const request = new Parser(REQUEST, 16 * 1024, events());
    let many = 'GET /many HTTP/1.1\r\nHost: a\r\n';
    for (let i = 0; i < 40; i++) many += `X-${i}: ${i}\r\n`;
    const text = `GET /a HTTP/1.1\r\nHost: a\r\n\r\nPOST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc${
      ''}PUT /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nX-T: 1\r\n\r\n${many}\r\n`;
    const taken = request.execute(Buffer.from(text, 'latin1'));
    if (taken !== text.length) return `request parse returned ${String(taken)}`;
    const expected = ['head GET/a 1.1 1 ka', 'end', 'head POST/b 1.1 2 ka', 'body abc', 'end', 'head PUT/c 1.1 2 ka', 'body hi', 'end X-T,1', 'head GET/many 1.1 41 ka', 'end'];
    if (seen.join('|') !== expected.join('|')) return `request events: ${seen.join('|')}`;
    request.close();
    for (const vector of [
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
      'GET / HTTP/1.1\nHost: a\n\n',
      'GET / HTTP/1.1\r\nHost : a\r\n\r\n',
    ]) {
      const strict = new Parser(REQUEST, 16 * 1024, events());
      const result = strict.execute(Buffer.from(vector, 'latin1'));
      strict.close();
      if (typeof result === 'number' || !/^HPE_/.test(result.code)) return `accepted ${JSON.stringify(vector)}`;
    }
    seen.length = 0;
    const response = new Parser(RESPONSE, 16 * 1024, events());
    const answers = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n';
    if (response.execute(Buffer.from(answers, 'latin1')) !== answers.length) return 'response parse';
    response.close();
    const head = new Parser(RESPONSE, 16 * 1024, events(NO_BODY));
    const headAnswer = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n';
    if (head.execute(Buffer.from(headAnswer, 'latin1')) !== headAnswer.length) return 'HEAD response parse';
    head.close();
    const closing = new Parser(RESPONSE, 16 * 1024, events());
    closing.execute(Buffer.from('HTTP/1.0 200 OK\r\n\r\nuntil close', 'latin1'));
    if (closing.finish() !== undefined) return 'close-delimited response';
    closing.close();
    const want = ['head 200OK 1.1 1 ka', 'body ok', 'end', 'head 404Not Found 1.1 1 ka', 'body x', 'end', 'head 200OK 1.1 1 ka', 'end', 'head 200OK 1.0 0 ', 'body until close', 'end'];
    if (seen.join('|') !== want.join('|')) return `response events: ${seen.join('|')}`;
    // RAW: the parser stops after the head, its message ends unreported; given the next head, it
    // parses it. Between RAW heads, a chunked body's end is reported (an end callback taken off
    // for a RAW head and put back must work, or the ends to ignore must be ignored).
    seen.length = 0;
    const results: HeadResult[] = [RAW, BODY, RAW, BODY, RAW];
    const sequence: ParserEvents = { ...events(), onHead: (...args) => { events().onHead(...args); return results.shift() ?? BODY; } };
    const raw = new Parser(RESPONSE, 16 * 1024, sequence);
    const sized = 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n';
    const chunked = 'HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n';
    for (const message of [sized, chunked, sized, chunked, sized]) {
      const taken = raw.execute(Buffer.from(message === sized ? `${sized}abc` : message, 'latin1'));
      if (taken !== message.length) return `RAW sequence parse returned ${String(taken)}`;
    }
    raw.close();
    const rawWant = ['head 200OK 1.1 1 ka', 'head 201Created 1.1 1 ka', 'body x', 'end', 'head 200OK 1.1 1 ka', 'head 201Created 1.1 1 ka', 'body x', 'end', 'head 200OK 1.1 1 ka'];
    if (seen.join('|') !== rawWant.join('|')) return `RAW events: ${seen.join('|')}`;
  } catch (err) {
    return `llhttp self-test threw: ${(err as Error).message}`;
  }
  return undefined;
}
