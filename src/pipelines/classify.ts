/** Image classification: decode + preprocess (overlapping the previous batch's compute), forward, softmax, top-k. */
import { tf } from '../tf.js';
import { type InferenceModel, runForward } from './model.js';
import { evalTransformFor, loadEvalImage } from '../data/image.js';
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

export async function classifyImages(model: InferenceModel, files: string[], opts: ClassifyOptions = {}): Promise<ClassifyResult[]> {
  const cfg = model.pretrainedCfg;
  if (cfg.task === 'segmentation') throw new Error(`${model.variant || 'this model'} is a segmentation model: use vizoo segment`);
  const t = evalTransformFor(cfg);
  const labels = resolveLabels(cfg.labels, model.numClasses);
  const topK = Math.min(opts.topK ?? 5, model.numClasses);
  const bs = Math.max(1, opts.batchSize ?? 8);
  model.eval();
  const results: ClassifyResult[] = [];
  const decodeBatch = (start: number) =>
    Promise.all(files.slice(start, start + bs).map((f) => loadEvalImage(f, t).then((d) => ({ f, d }), (e: Error) => ({ f, e }))));
  let pending = files.length ? decodeBatch(0) : null;
  for (let start = 0; pending; start += bs) {
    const batch = await pending;
    pending = start + bs < files.length ? decodeBatch(start + bs) : null;
    const ok = batch.filter((b): b is { f: string; d: Float32Array } => 'd' in b);
    const probs = new Map<string, Float32Array>();
    if (ok.length) {
      const [h, w] = t.size;
      const x = tf.tensor4d(concat(ok.map((b) => b.d)), [ok.length, h, w, t.channels]);
      const logits = await runForward(model, x);
      const p = tf.tidy(() => tf.softmax(logits));
      logits.dispose();
      const data = (await p.data()) as Float32Array;
      tf.dispose([x, p]);
      ok.forEach((b, i) => probs.set(b.f, data.subarray(i * model.numClasses, (i + 1) * model.numClasses)));
    }
    for (const b of batch) {
      const r: ClassifyResult = 'e' in b ? { file: b.f, error: b.e.message } : { file: b.f, predictions: topk(probs.get(b.f)!, topK, labels) };
      results.push(r);
      opts.onImage?.(r);
    }
  }
  return results;
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function topk(probs: Float32Array, k: number, labels: string[]): Prediction[] {
  const idx = Array.from(probs.keys()).sort((a, b) => probs[b]! - probs[a]! || a - b);
  return idx.slice(0, k).map((i) => ({ index: i, label: labels[i] ?? `class ${i}`, prob: probs[i]! }));
}
