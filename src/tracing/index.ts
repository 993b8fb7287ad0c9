export { Tracer, SCOPE } from './tracer.js';
export { RequestTrace, TrySpan, SpanEvent, type Attributes, type AttributeValue, type SpanData } from './span.js';
export { parseTraceparent, formatTraceparent, type ParentContext } from './traceparent.js';
export { Sampler, SAMPLERS, type SamplerName } from './sampler.js';
export { encodeProto } from './otlp-proto.js';
export { encodeJson } from './otlp-json.js';
export { BatchExporter, type OtlpProtocol } from './exporter.js';
export { tracesUrl, type TracingConfig } from './config.js';
