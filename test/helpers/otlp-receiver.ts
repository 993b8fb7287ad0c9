import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An OTLP/HTTP trace receiver for tests: decodes what the balancer exports, in protobuf (with
 * the small decoder below, written against opentelemetry-proto's field numbers) or in JSON,
 * into one shape, so the same assertions read both.
 */

export type Value = string | number | boolean;

export interface ReceivedEvent { name: string; time: bigint; attributes: Record<string, Value> }
export interface ReceivedSpan {
  traceId: string; spanId: string; parentSpanId: string; traceState: string; name: string; kind: number;
  start: bigint; end: bigint; attributes: Record<string, Value>; events: ReceivedEvent[];
  status: { code: number; message: string };
}
export interface ReceivedExport {
  contentType: string; path: string; headers: IncomingHttpHeaders;
  resource: Record<string, Value>; scope: { name: string; version: string }; spans: ReceivedSpan[];
}

// ---- protobuf ----

type Field = bigint | Buffer;

/** Every field of one message by number, in order (varints and fixed64 as bigint, the rest as bytes). */
export function protoFields(buf: Buffer): Map<number, Field[]> {
  const out = new Map<number, Field[]>();
  let at = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      const b = buf[at++];
      if (b === undefined) throw new Error('truncated varint');
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
    throw new Error('varint too long');
  };
  while (at < buf.length) {
    const key = Number(varint());
    const field = key >>> 3;
    const wire = key & 7;
    let value: Field;
    if (wire === 0) value = varint();
    else if (wire === 1) { value = buf.readBigUInt64LE(at); at += 8; }
    else if (wire === 2) {
      const n = Number(varint());
      if (at + n > buf.length) throw new Error('truncated bytes');
      value = buf.subarray(at, at + n);
      at += n;
    } else if (wire === 5) { value = BigInt(buf.readUInt32LE(at)); at += 4; }
    else throw new Error(`wire type ${wire}`);
    const list = out.get(field) ?? [];
    list.push(value);
    out.set(field, list);
  }
  return out;
}

const bytesOf = (m: Map<number, Field[]>, f: number): Buffer[] => (m.get(f) ?? []) as Buffer[];
const str = (m: Map<number, Field[]>, f: number): string => (bytesOf(m, f)[0]?.toString('utf8') ?? '');
const hex = (m: Map<number, Field[]>, f: number): string => (bytesOf(m, f)[0]?.toString('hex') ?? '');
const num = (m: Map<number, Field[]>, f: number): bigint => ((m.get(f)?.[0] as bigint | undefined) ?? 0n);

function protoAttributes(list: Buffer[]): Record<string, Value> {
  const out: Record<string, Value> = {};
  for (const kv of list) {
    const f = protoFields(kv);
    const v = protoFields(bytesOf(f, 2)[0] ?? Buffer.alloc(0));
    let value: Value;
    if (v.has(1)) value = str(v, 1);
    else if (v.has(2)) value = num(v, 2) === 1n;
    else if (v.has(3)) value = Number(BigInt.asIntN(64, num(v, 3)));
    else if (v.has(4)) { const b = Buffer.alloc(8); b.writeBigUInt64LE(num(v, 4)); value = b.readDoubleLE(0); }
    else value = '';
    out[str(f, 1)] = value;
  }
  return out;
}

/** ExportTraceServiceRequest from protobuf. */
export function decodeProto(body: Buffer): Omit<ReceivedExport, 'contentType' | 'path' | 'headers'> {
  const spans: ReceivedSpan[] = [];
  let resource: Record<string, Value> = {};
  let scope = { name: '', version: '' };
  for (const rs of bytesOf(protoFields(body), 1)) {
    const r = protoFields(rs);
    resource = protoAttributes(bytesOf(protoFields(bytesOf(r, 1)[0] ?? Buffer.alloc(0)), 1));
    for (const ss of bytesOf(r, 2)) {
      const s = protoFields(ss);
      const sc = protoFields(bytesOf(s, 1)[0] ?? Buffer.alloc(0));
      scope = { name: str(sc, 1), version: str(sc, 2) };
      for (const sp of bytesOf(s, 2)) {
        const f = protoFields(sp);
        const status = protoFields(bytesOf(f, 15)[0] ?? Buffer.alloc(0));
        spans.push({
          traceId: hex(f, 1), spanId: hex(f, 2), traceState: str(f, 3), parentSpanId: hex(f, 4), name: str(f, 5), kind: Number(num(f, 6)),
          start: num(f, 7), end: num(f, 8), attributes: protoAttributes(bytesOf(f, 9)),
          events: bytesOf(f, 11).map((e) => { const ef = protoFields(e); return { time: num(ef, 1), name: str(ef, 2), attributes: protoAttributes(bytesOf(ef, 3)) }; }),
          status: { message: str(status, 2), code: Number(num(status, 3)) },
        });
      }
    }
  }
  return { resource, scope, spans };
}

// ---- JSON ----

interface JsonKv { key: string; value: { stringValue?: string; boolValue?: boolean; intValue?: string; doubleValue?: number } }

function jsonAttributes(list: JsonKv[] | undefined): Record<string, Value> {
  const out: Record<string, Value> = {};
  for (const { key, value } of list ?? []) {
    if (value.intValue !== undefined && typeof value.intValue !== 'string') throw new Error(`intValue of ${key} is not a string`);
    out[key] = value.stringValue ?? value.boolValue ?? (value.intValue !== undefined ? Number(value.intValue) : value.doubleValue ?? '');
  }
  return out;
}

/** ExportTraceServiceRequest from OTLP/JSON. */
export function decodeJson(body: Buffer): Omit<ReceivedExport, 'contentType' | 'path' | 'headers'> {
  const doc = JSON.parse(body.toString('utf8')) as { resourceSpans: any[] };
  const spans: ReceivedSpan[] = [];
  let resource: Record<string, Value> = {};
  let scope = { name: '', version: '' };
  for (const rs of doc.resourceSpans) {
    resource = jsonAttributes(rs.resource?.attributes);
    for (const ss of rs.scopeSpans) {
      scope = { name: ss.scope?.name ?? '', version: ss.scope?.version ?? '' };
      for (const s of ss.spans) {
        if (typeof s.startTimeUnixNano !== 'string') throw new Error('startTimeUnixNano is not a string');
        spans.push({
          traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId ?? '', traceState: s.traceState ?? '', name: s.name, kind: s.kind,
          start: BigInt(s.startTimeUnixNano), end: BigInt(s.endTimeUnixNano), attributes: jsonAttributes(s.attributes),
          events: (s.events ?? []).map((e: any) => ({ name: e.name, time: BigInt(e.timeUnixNano), attributes: jsonAttributes(e.attributes) })),
          status: { code: s.status?.code ?? 0, message: s.status?.message ?? '' },
        });
      }
    }
  }
  return { resource, scope, spans };
}

// ---- the receiver ----

export class OtlpReceiver {
  readonly exports: ReceivedExport[] = [];
  /** The status it answers with (a collector refusing: 503). */
  status = 200;
  readonly #server: Server;
  readonly #waiters: (() => void)[] = [];

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(t: { after(fn: () => unknown): void }): Promise<OtlpReceiver> {
    const server = createServer();
    const receiver = new OtlpReceiver(server);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const contentType = req.headers['content-type'] ?? '';
        try {
          const decoded = contentType.startsWith('application/json') ? decodeJson(body) : decodeProto(body);
          receiver.exports.push({ contentType, path: req.url ?? '', headers: req.headers, ...decoded });
        } catch (err) {
          receiver.exports.push({ contentType: `undecodable: ${(err as Error).message}`, path: req.url ?? '', headers: req.headers, resource: {}, scope: { name: '', version: '' }, spans: [] });
        }
        res.writeHead(receiver.status, { 'content-type': contentType.startsWith('application/json') ? 'application/json' : 'application/x-protobuf' });
        res.end(contentType.startsWith('application/json') ? '{}' : '');
        for (const w of receiver.#waiters.splice(0)) w();
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => receiver.close());
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** Every span received so far. */
  get spans(): ReceivedSpan[] {
    return this.exports.flatMap((e) => e.spans);
  }

  /** Resolves with the spans once `ready(spans)` holds (checked at each export). */
  async waitFor(ready: (spans: ReceivedSpan[]) => boolean): Promise<ReceivedSpan[]> {
    for (let i = 0; i < 10_000; i++) {
      if (ready(this.spans)) return this.spans;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    throw new Error('too many exports');
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
