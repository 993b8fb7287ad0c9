// @engine-independent: the conformance suite picks its engine itself, once per file
import { runConformance } from './conformance.cases.js';

runConformance('fast');
