export { negotiate, ENCODINGS, ZSTD_AVAILABLE, type Encoding } from './negotiate.js';
export { CompressionPolicy, compressedHeaders, isEventStream, DEFAULT_LEVELS, DEFAULT_MIN_SIZE, DEFAULT_TYPES, VARY_ONLY, type CompressionSettings, type Decision } from './policy.js';
export { Encoder, type EncodedSink } from './encoder.js';
