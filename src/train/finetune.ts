/**
 * Starting a fine-tune from weights: a new class count resets the classifier and keeps the rest; a new input
 * channel count adapts the first conv as timm's adapt_input_conv does (sum for 1 channel, tiled and
 * rescaled by 3 / in_chans otherwise).
 */
import { createModel } from '../models/registry.js';
import type { Backbone } from '../models/backbone.js';
import { type HostTensor, type StateDict, toFloat32 } from '../hub/host_tensor.js';
import { readWeightsFile } from '../hub/weight_files.js';
import { mapStateDict } from '../hub/keymaps.js';
import { adaptToInputSize } from '../hub/input_size.js';
import { shippedWeightsPath } from '../hub/shipped.js';

/** timm's adapt_input_conv on an OIHW weight. */
export function adaptInputConv(w: HostTensor, inChans: number): HostTensor {
  const [o, i, kh, kw] = w.shape as [number, number, number, number];
  if (i === inChans) return w;
  const src = toFloat32(w);
  const k = kh * kw;
  const out = new Float32Array(o * inChans * k);
  for (let a = 0; a < o; a++) {
    for (let c = 0; c < inChans; c++) {
      for (let p = 0; p < k; p++) {
        let v = 0;
        if (inChans === 1) for (let s = 0; s < i; s++) v += src[(a * i + s) * k + p]!;
        else v = (src[(a * i + (c % i)) * k + p]! * i) / inChans;
        out[(a * inChans + c) * k + p] = v;
      }
    }
  }
  return { dtype: 'F32', shape: [o, inChans, kh, kw], data: out };
}

export interface FinetuneStart {
  model: Backbone;
  /** Keys initialized fresh (the classifier after a class-count change). */
  reset: string[];
  /** Checkpoint keys the model does not have. */
  unexpected: string[];
}

/** Builds `name` from `weights` (a file, or `'shipped'` for the weights in the package) for fine-tuning. */
export function loadForFinetune(
  name: string,
  weights: string = 'shipped',
  o: { numClasses?: number; inChans?: number; imgSize?: number | [number, number]; seed?: number; dropPathRate?: number; dropRate?: number; checkpointKey?: string; keyMap?: string } = {},
): FinetuneStart {
  if (weights === 'shipped') {
    const shipped = shippedWeightsPath(name);
    if (!shipped) throw new Error(`${name}: vizoo ships no weights for this model; pass a weights file`);
    weights = shipped;
  }
  const model = createModel(name, { numClasses: o.numClasses, inChans: o.inChans, imgSize: o.imgSize, seed: o.seed, dropPathRate: o.dropPathRate, dropRate: o.dropRate, init: false });
  const own = new Map(model.stateEntries());
  // PyTorch checkpoints and foreign namings (HF ports, wrapper prefixes) map to the official keys first;
  // position embeddings of another input size are resampled (or refused where the model cannot change size).
  const named = mapStateDict(readWeightsFile(weights, { checkpointKey: o.checkpointKey }), new Set(own.keys()), o.keyMap, new Map([...own].map(([k, p]) => [k, p.shape]))).sd;
  const sd: StateDict = new Map(adaptToInputSize(model, named, weights));
  const cfg = model.pretrainedCfg;
  const classifier = cfg.classifier;
  if (classifier) {
    for (const k of [...sd.keys()]) {
      if (!k.startsWith(`${classifier}.`)) continue;
      const p = own.get(k);
      if (!p || p.numel !== sd.get(k)!.data.length || p.shape.some((d, j) => d !== sd.get(k)!.shape[j])) sd.delete(k);
    }
  }
  const first = cfg.firstConv ? `${cfg.firstConv}.weight` : null;
  if (first && sd.has(first) && own.has(first)) {
    const want = own.get(first)!.shape[1]!;
    if (sd.get(first)!.shape[1] !== want) sd.set(first, adaptInputConv(sd.get(first)!, want));
  }
  const { missing, unexpected } = model.loadStateDict(sd, { strict: false });
  const notClassifier = missing.filter((k) => !classifier || !k.startsWith(`${classifier}.`));
  if (notClassifier.length) throw new Error(`${weights}: missing weights for ${notClassifier.length} keys outside the classifier (${notClassifier.slice(0, 5).join(', ')}${notClassifier.length > 5 ? ', ...' : ''})`);
  model.initialize(o.seed ?? 0);
  return { model, reset: missing, unexpected };
}
