// ONNX export checks, part 1 of 4 (see export_cases.ts).
import { registerExportTests } from './export_cases.js';

registerExportTests(0);
