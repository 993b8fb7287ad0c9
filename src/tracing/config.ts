import { InvalidValue } from '../config/errors.js';
import { parseDuration } from '../config/duration.js';
import type { OtlpProtocol } from './exporter.js';
import { SAMPLERS, type SamplerName } from './sampler.js';

export const OTLP_PROTOCOLS: readonly OtlpProtocol[] = ['http/protobuf', 'http/json'];

/** The `tracing` section of the configuration: the standard OTEL_* variables, and ours. */
export interface TracingConfig {
  /** OTEL_EXPORTER_OTLP_ENDPOINT: the collector's base URL (`/v1/traces` is appended). */
  readonly endpoint: string | undefined;
  /** OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: the traces URL, used as it is (wins over `endpoint`). */
  readonly tracesEndpoint: string | undefined;
  readonly protocol: OtlpProtocol;
  readonly headers: Readonly<Record<string, string>>;
  /** ms allowed for one export. */
  readonly timeout: number;
  readonly serviceName: string;
  readonly resourceAttributes: Readonly<Record<string, string>>;
  readonly sampler: SamplerName;
  readonly samplerArg: number;
  /** Requests slower than this (ms) are kept whatever the sampler said; 0: no such rule. */
  readonly slowThreshold: number;
  readonly maxQueue: number;
  readonly batchSize: number;
  /** ms between exports of what is queued. */
  readonly scheduleDelay: number;
}

/** Where spans go: the traces endpoint, or undefined when tracing is off (neither endpoint set). */
export function tracesUrl(config: TracingConfig): string | undefined {
  if (config.tracesEndpoint !== undefined) return config.tracesEndpoint;
  if (config.endpoint === undefined) return undefined;
  return `${config.endpoint.replace(/\/+$/, '')}/v1/traces`;
}

/** An http:// or https:// URL (OTEL_EXPORTER_OTLP_ENDPOINT and _TRACES_ENDPOINT). */
export function otlpUrl(value: unknown): string {
  const text = typeof value === 'string' ? value.trim() : undefined;
  let url: URL | undefined;
  try {
    url = text === undefined || text === '' ? undefined : new URL(text);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) throw new InvalidValue('an http:// or https:// URL, such as http://localhost:4318');
  return text!;
}

/**
 * `key=value,key=value` with keys and values percent-encoded (OTEL_EXPORTER_OTLP_HEADERS,
 * OTEL_RESOURCE_ATTRIBUTES: the W3C Baggage format without properties); a mapping in a file.
 */
export function keyValueList(value: unknown, text: boolean): Readonly<Record<string, string>> {
  const expected = 'comma-separated key=value pairs (percent-encoded), such as api-key=secret,team=edge';
  const out: Record<string, string> = {};
  if (!text && value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) {
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') throw new InvalidValue(expected);
      out[k] = String(v);
    }
    return Object.freeze(out);
  }
  if (typeof value !== 'string') throw new InvalidValue(expected);
  for (const item of value.split(',')) {
    if (item.trim() === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) throw new InvalidValue(expected, item.trim());
    try {
      out[decodeURIComponent(item.slice(0, eq).trim())] = decodeURIComponent(item.slice(eq + 1).trim());
    } catch {
      throw new InvalidValue(expected, item.trim());
    }
  }
  return Object.freeze(out);
}

export function samplerName(value: unknown): SamplerName {
  const name = typeof value === 'string' ? value.trim().toLowerCase() : '';
  if (!(SAMPLERS as readonly string[]).includes(name)) throw new InvalidValue(`one of ${SAMPLERS.join(', ')}`);
  return name as SamplerName;
}

/** OTEL_TRACES_SAMPLER_ARG: a ratio from 0 to 1. */
export function samplerArg(value: unknown): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\s*(\d+(\.\d*)?|\.\d+)\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new InvalidValue('a ratio from 0 to 1, such as 0.01');
  return n;
}

export function otlpProtocol(value: unknown): OtlpProtocol {
  const p = typeof value === 'string' ? value.trim() : '';
  if (!(OTLP_PROTOCOLS as readonly string[]).includes(p)) throw new InvalidValue(`one of ${OTLP_PROTOCOLS.join(', ')} (grpc is not supported)`);
  return p as OtlpProtocol;
}

/** Milliseconds as OpenTelemetry gives them (a plain integer), or one of our durations (250ms, 5s). */
export function otelMillis(min: number) {
  const expected = `milliseconds (an integer of at least ${min}) or a duration such as 5s`;
  return (value: unknown): number => {
    const text = typeof value === 'string' ? value.trim() : undefined;
    const ms = typeof value === 'number' ? value : text !== undefined && /^\d+$/.test(text) ? Number(text) : text !== undefined ? parseDuration(text) : undefined;
    if (ms === undefined || !Number.isFinite(ms) || ms < min || ms > 2_147_483_647) throw new InvalidValue(expected);
    return ms;
  };
}
