/** Evaluation of a model on a dataset: top-1/top-5/per-class accuracy, or mIoU/pixel accuracy. */
import { tf, type Tensor4D } from '../tf.js';
import type { Dataset } from '../data/dataset.js';
import { DataLoader } from '../data/loader.js';
import { makePrepare } from '../data/prepare.js';
import type { InputSpec } from '../data/transforms.js';
import { resizeBilinear } from '../nn/functional.js';
import { ClassificationMeter, type ClassificationMetrics, SegmentationMeter, type SegmentationMetrics } from './metrics.js';

export interface EvaluateOptions {
  spec: InputSpec;
  numClasses: number;
  batchSize?: number;
  onBatch?: (done: number, total: number) => void;
  onSkip?: (source: string, message: string) => void;
}

export type EvalMetrics = ({ task: 'classification' } & ClassificationMetrics) | ({ task: 'segmentation' } & SegmentationMetrics);

/** A tfjs Module, or a model running elsewhere (onnxruntime) with an asynchronous forward. */
export interface EvalModel {
  training?: boolean;
  train?(mode?: boolean): unknown;
  eval(): unknown;
  forward(x: tf.Tensor): tf.Tensor | tf.Tensor[];
  forwardAsync?(x: tf.Tensor): Promise<tf.Tensor>;
}

export async function evaluate(model: EvalModel, ds: Dataset, o: EvaluateOptions): Promise<EvalMetrics & { skipped: number }> {
  const wasTraining = model.training ?? false;
  model.eval();
  const loader = new DataLoader(ds, { batchSize: o.batchSize ?? 32, shuffle: false, shape: [o.spec.height, o.spec.width, o.spec.channels], prepare: makePrepare(o.spec, false), onSkip: o.onSkip });
  const cls = ds.task === 'classification' ? new ClassificationMeter(o.numClasses) : null;
  const seg = ds.task === 'segmentation' ? new SegmentationMeter(o.numClasses, ds.ignoreIndex) : null;
  let done = 0;
  try {
    for await (const b of loader.epoch(0)) {
      const logits = model.forwardAsync ? await model.forwardAsync(b.x) : (model.forward(b.x) as tf.Tensor);
      const out = tf.tidy(() => {
        if (cls) return logits.clone();
        const [, h, w] = b.y.shape as [number, number, number];
        return tf.argMax(resizeBilinear(logits as Tensor4D, [h, w]), -1);
      });
      const [pred, gt] = await Promise.all([out.data(), b.y.data()]);
      if (cls) cls.add(pred as Float32Array, gt as Int32Array);
      else seg!.add(pred as Int32Array, gt as Int32Array);
      tf.dispose([out, logits, b.x, b.y]);
      done += b.indices.length;
      o.onBatch?.(done, ds.length);
    }
  } finally {
    model.train?.(wasTraining);
  }
  const skipped = loader.skipped.length;
  return cls ? { task: 'classification', ...cls.result(ds.classes), skipped } : { task: 'segmentation', ...seg!.result(ds.classes), skipped };
}
