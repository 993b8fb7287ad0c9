import { runConformance } from './conformance.cases.js';

runConformance('node');
