export { addConnections, backendKey, backendOf, countRequests, foldRows, parseRowKey, rowKey, DURATION_BUCKETS, ROW, STATUS_CLASSES, Tally } from './tally.js';
export type { Exemplar, ExemplarImage, ProcessCounts, TallyImage } from './tally.js';
export { exemplarImage, mergeExemplars } from './tally.js';
export { Metrics } from './registry.js';
export { addRefusals, PolicyRefusals, refusalKey, refusalLabels } from './policy-refusals.js';
export type { Counts, MetricsSource } from './registry.js';
export { wantsOpenMetrics } from './negotiate.js';
