import { Agent as HttpAgent, request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Logger } from 'pino';
import { encodeJson } from './otlp-json.js';
import { encodeProto } from './otlp-proto.js';
import type { Attributes, RequestTrace } from './span.js';
import { spanData } from './span-data.js';

export type OtlpProtocol = 'http/protobuf' | 'http/json';

export interface ExporterOptions {
  /** The traces endpoint, whole (`…/v1/traces`). */
  readonly url: string;
  readonly protocol: OtlpProtocol;
  /** OTEL_EXPORTER_OTLP_HEADERS. */
  readonly headers: Readonly<Record<string, string>>;
  /** Time allowed for one export, ms (OTEL_EXPORTER_OTLP_TIMEOUT). */
  readonly timeout: number;
  /** Most spans waiting (OTEL_BSP_MAX_QUEUE_SIZE); beyond, new ones are dropped and counted. */
  readonly maxQueue: number;
  /** Most spans per export (OTEL_BSP_MAX_EXPORT_BATCH_SIZE); a full batch is sent at once. */
  readonly batchSize: number;
  /** Longest wait before what is queued is sent, ms (OTEL_BSP_SCHEDULE_DELAY). */
  readonly scheduleDelay: number;
  readonly resource: Attributes;
  readonly scope: { readonly name: string; readonly version: string };
  readonly log: Logger;
}

/**
 * The batch span processor and the OTLP/HTTP exporter in one: kept requests wait in a bounded
 * queue and go out in batches, one export at a time, off the requests' path. A slow or absent
 * collector fills the queue, and what does not fit is dropped and counted (never held in memory
 * without bound, never waited for by a request); a failed export's spans are dropped and
 * counted too (no retry: the next batch is already coming).
 */
export class BatchExporter {
  readonly #options: ExporterOptions;
  readonly #queue: RequestTrace[] = [];
  #queuedSpans = 0;
  /** Spans dropped (queue full, or an export failed) and sent, since start-up. */
  dropped = 0;
  exported = 0;
  #exporting: Promise<void> | undefined = undefined;
  #soon = false;
  #failing = false;
  readonly #timer: NodeJS.Timeout;
  readonly #agent: HttpAgent;
  readonly #https: boolean;
  readonly #contentType: string;

  constructor(options: ExporterOptions) {
    this.#options = options;
    this.#https = options.url.startsWith('https:');
    this.#agent = this.#https ? new HttpsAgent({ keepAlive: true, maxSockets: 1 }) : new HttpAgent({ keepAlive: true, maxSockets: 1 });
    this.#contentType = options.protocol === 'http/json' ? 'application/json' : 'application/x-protobuf';
    this.#timer = setInterval(() => this.#flush(), options.scheduleDelay);
    this.#timer.unref();
  }

  /** Spans waiting now. */
  get queued(): number {
    return this.#queuedSpans;
  }

  /** Queues a kept request's spans, or drops and counts them when the queue is full. */
  add(trace: RequestTrace): void {
    const spans = trace.spanCount;
    if (this.#queuedSpans + spans > this.#options.maxQueue) {
      this.dropped += spans;
      return;
    }
    this.#queue.push(trace);
    this.#queuedSpans += spans;
    if (this.#queuedSpans >= this.#options.batchSize && !this.#soon && this.#exporting === undefined) {
      this.#soon = true;
      setImmediate(() => { this.#soon = false; this.#flush(); });
    }
  }

  /** Sends what is queued now (and waits for an export under way); stops the timer. Never rejects. */
  async shutdown(): Promise<void> {
    clearInterval(this.#timer);
    if (this.#exporting !== undefined) await this.#exporting;
    // Each round takes at least one request off the queue: the loop ends.
    while (this.#queue.length > 0) await this.#exportBatch();
    this.#agent.destroy();
  }

  #flush(): void {
    if (this.#exporting !== undefined || this.#queue.length === 0) return;
    this.#exporting = this.#exportBatch().finally(() => {
      this.#exporting = undefined;
      if (this.#queuedSpans >= this.#options.batchSize) this.#flush();
    });
  }

  /** One export of up to a batch (at least one request's spans). */
  async #exportBatch(): Promise<void> {
    const queue = this.#queue;
    const limit = this.#options.batchSize;
    let spans = 0;
    let n = 0;
    while (n < queue.length && (n === 0 || spans + queue[n]!.spanCount <= limit)) spans += queue[n++]!.spanCount;
    // One splice per batch: shifting one request at a time is quadratic in the queue's length.
    const batch = queue.splice(0, n);
    this.#queuedSpans -= spans;
    let problem: string | undefined;
    try {
      const data = batch.flatMap(spanData);
      const o = this.#options;
      const body = o.protocol === 'http/json' ? encodeJson(o.resource, o.scope, data) : encodeProto(o.resource, o.scope, data);
      const status = await this.#post(body);
      if (status < 200 || status > 299) problem = `the collector answered ${status}`;
    } catch (err) {
      problem = (err as Error).message;
    }
    if (problem === undefined) {
      this.exported += spans;
      if (this.#failing) this.#options.log.info({ url: this.#options.url }, 'trace export works again');
      this.#failing = false;
      return;
    }
    this.dropped += spans;
    // One line when exports start failing, not one per batch.
    if (!this.#failing) this.#options.log.warn({ url: this.#options.url, err: problem, spans }, 'trace export failed: spans dropped');
    this.#failing = true;
  }

  /** POSTs one export; resolves with the collector's status (its body is read and discarded). */
  #post(body: Buffer): Promise<number> {
    const o = this.#options;
    const headers: OutgoingHttpHeaders = { ...o.headers, 'content-type': this.#contentType, 'content-length': body.length };
    return new Promise((resolve, reject) => {
      const req = (this.#https ? httpsRequest : httpRequest)(o.url, { method: 'POST', headers, agent: this.#agent, timeout: o.timeout }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer from the collector within ${o.timeout}ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }
}
