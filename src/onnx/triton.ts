/**
 * A Triton Inference Server model repository for an exported model:
 *   <repo>/<name>/config.pbtxt   (onnxruntime backend, input/output names and dims, dynamic batching)
 *   <repo>/<name>/1/model.onnx   (a dynamic-batch export)
 *   <repo>/<name>/labels.txt     (a classifier's class names, one per line, for Triton's classification extension)
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { atomicWriteFile } from '../util/fs.js';
import type { ExportResult } from './export.js';

export interface TritonOptions {
  /** Model name in the repository (default: the variant). */
  name: string;
  /** max_batch_size (default 32). */
  maxBatchSize?: number;
  /** Preferred dynamic-batching sizes (default none: Triton picks). */
  preferredBatchSizes?: number[];
  /** Instances per device (default 1). */
  instances?: number;
  /** Class names of a classifier: written to labels.txt and named by the first output's label_filename. */
  labels?: string[];
}

/** config.pbtxt text for a dynamic-batch export (dims exclude the batch axis). */
export function tritonConfig(r: ExportResult, o: TritonOptions): string {
  if (r.inputShape[0] !== -1) throw new Error('a Triton repository needs a dynamic-batch export (the batch axis is Triton\'s)');
  const dims = (s: number[]) => `[ ${s.slice(1).join(', ')} ]`;
  const lines = [
    `name: "${o.name}"`,
    'platform: "onnxruntime_onnx"',
    `max_batch_size: ${o.maxBatchSize ?? 32}`,
    'input [',
    `  {\n    name: "${r.inputName}"\n    data_type: TYPE_FP32\n    format: FORMAT_NCHW\n    dims: ${dims(r.inputShape)}\n  }`,
    ']',
    'output [',
    r.outputNames.map((n, i) => `  {\n    name: "${n}"\n    data_type: TYPE_FP32\n    dims: ${dims(r.outputShapes[i]!)}${i === 0 && o.labels ? '\n    label_filename: "labels.txt"' : ''}\n  }`).join(',\n'),
    ']',
    o.preferredBatchSizes?.length ? `dynamic_batching {\n  preferred_batch_size: [ ${o.preferredBatchSizes.join(', ')} ]\n}` : 'dynamic_batching { }',
    `instance_group [\n  {\n    count: ${o.instances ?? 1}\n    kind: KIND_AUTO\n  }\n]`,
  ];
  return `${lines.join('\n')}\n`;
}

/** Writes the repository entry; returns the model folder. */
export function writeTritonRepository(repo: string, r: ExportResult, o: TritonOptions): { dir: string; config: string; model: string } {
  const dir = join(repo, o.name);
  mkdirSync(join(dir, '1'), { recursive: true });
  const model = join(dir, '1', 'model.onnx');
  const config = join(dir, 'config.pbtxt');
  atomicWriteFile(model, r.bytes);
  atomicWriteFile(config, tritonConfig(r, o));
  if (o.labels) atomicWriteFile(join(dir, 'labels.txt'), `${o.labels.join('\n')}\n`);
  return { dir, config, model };
}
