/** Image classification: decode + preprocess (overlapping the previous batch's compute), forward, softmax, top-k. */
import { tf } from '../tf.js';
import { type InferenceModel, runForward } from './model.js';
import { type EvalTransform, evalTransformFor } from '../data/transforms.js';
import { type ItemResult, runImageBatches } from './image_batches.js';
import { resolveLabels } from '../data/labels.js';

export interface Prediction {
  index: number;
  label: string;
  prob: number;
}

export type ClassifyResult = { file: string; predictions: Prediction[] } | { file: string; error: string };

export interface ClassifyOptions {
  topK?: number;
  batchSize?: number;
  onImage?: (r: ClassifyResult) => void;
}

/**
 * Classifies `items`: `load` turns one into the model's preprocessed input (HWC float32 for transform `t`),
 * `nameOf` names it in the results. The entries (Node: files, browser: image sources) wrap this.
 */
export async function classifyWith<T>(
  model: InferenceModel,
  items: T[],
  load: (item: T, t: EvalTransform) => Promise<Float32Array>,
  nameOf: (item: T) => string,
  opts: ClassifyOptions = {},
): Promise<ClassifyResult[]> {
  const cfg = model.pretrainedCfg;
  if (cfg.task === 'segmentation') throw new Error(`${model.variant || 'this model'} is a segmentation model: use vizoo segment`);
  const t = evalTransformFor(cfg);
  const labels = resolveLabels(cfg.labels, model.numClasses);
  const topK = Math.min(opts.topK ?? 5, model.numClasses);
  model.eval();
  const toResult = (r: ItemResult<T, Prediction[]>): ClassifyResult => ('error' in r ? { file: nameOf(r.item), error: r.error.message } : { file: nameOf(r.item), predictions: r.value });
  const rs = await runImageBatches(
    items,
    (item) => load(item, t),
    [t.size[0], t.size[1], t.channels],
    opts.batchSize ?? 8,
    async (x) => {
      const logits = await runForward(model, x);
      const p = tf.tidy(() => tf.softmax(logits));
      logits.dispose();
      return p;
    },
    (row) => topk(row, topK, labels),
    opts.onImage && ((r) => opts.onImage!(toResult(r))),
  );
  return rs.map(toResult);
}

export function topk(probs: Float32Array, k: number, labels: string[]): Prediction[] {
  const idx = Array.from(probs.keys()).sort((a, b) => probs[b]! - probs[a]! || a - b);
  return idx.slice(0, k).map((i) => ({ index: i, label: labels[i] ?? `class ${i}`, prob: probs[i]! }));
}
