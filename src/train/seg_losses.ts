/**
 * Segmentation losses of the PIDNet family as BEVANet trains with them (maomao0819/BEVANet
 * `utils/criterion.py` and `utils/utils.py::FullModel`, configs/cityscapes/*.yaml). Pure functions over
 * NHWC tfjs tensors: logits (B, H, W, C), labels (B, H, W) int32 with an ignore index.
 * Deviation: where PyTorch's mean over zero selected pixels gives NaN (every label ignored, or OHEM keeping
 * nothing), these return 0, so a training step never turns the weights into NaN.
 */
import { tf, type Tensor, type Tensor4D } from '../tf.js';
import { resizeBilinear } from '../nn/functional.js';

/**
 * `fn(...inputs)` as one op with zero gradient (torch's `.detach()` of a selection). Comparisons such as Less
 * or NotEqual have no tfjs gradient, so masks and derived labels are built inside this single op: the
 * backward pass never walks through them.
 */
function noGrad(fn: (...xs: Tensor[]) => Tensor, ...inputs: Tensor[]): Tensor {
  const op = tf.customGrad((...args) => {
    const xs = args.slice(0, inputs.length) as Tensor[]; // customGrad appends its `save` function
    return { value: fn(...xs), gradFunc: () => xs.map((x) => tf.zeros(x.shape, 'float32')) };
  });
  return op(...inputs);
}

/** Sum over selected pixels / their count (0 when none). */
function maskedMean(values: Tensor, mask: Tensor): Tensor {
  return tf.div(tf.sum(tf.mul(values, mask)), tf.maximum(tf.sum(mask), 1));
}

/** Per-pixel negative log-likelihood (0 where ignored), the valid mask and the softmax probability of the label. */
function pixelNll(logits: Tensor, labels: Tensor, ignoreIndex: number): { nll: Tensor; valid: Tensor; prob: Tensor } {
  const c = logits.shape[logits.shape.length - 1]!;
  const flat = tf.reshape(logits, [-1, c]);
  const lab = tf.cast(tf.reshape(labels, [-1]), 'int32');
  const valid = noGrad((l) => tf.cast(tf.notEqual(l, ignoreIndex), 'float32'), lab);
  const safe = noGrad((l) => tf.where(tf.notEqual(l, ignoreIndex), l, tf.zerosLike(l)), lab);
  const logp = tf.sum(tf.mul(tf.logSoftmax(flat), tf.oneHot(safe, c)), -1);
  return { nll: tf.mul(tf.neg(logp), valid), valid, prob: tf.exp(logp) };
}

/** nn.CrossEntropyLoss(ignore_index): mean NLL over the pixels whose label is not `ignoreIndex`. */
export function crossEntropyIgnore(logits: Tensor, labels: Tensor, ignoreIndex = 255): Tensor {
  return tf.tidy(() => {
    const { nll, valid } = pixelNll(logits, labels, ignoreIndex);
    return maskedMean(nll, valid);
  });
}

export interface OhemOptions {
  ignoreIndex?: number;
  /** Probability threshold (config LOSS.OHEMTHRES; Cityscapes configs 0.9). */
  thresh?: number;
  /** At least this many pixels are kept (LOSS.OHEMKEEP; Cityscapes configs 131072). */
  minKept?: number;
}

/**
 * Online hard example mining CE (PIDNet `OhemCrossEntropy._ohem_forward`): among valid pixels, with p the
 * softmax probability of the true class sorted ascending, threshold = max(p[min(minKept, nValid - 1)], thresh);
 * the loss is the mean NLL of the valid pixels with p < threshold.
 */
export function ohemCrossEntropy(logits: Tensor, labels: Tensor, opts: OhemOptions = {}): Tensor {
  const ignoreIndex = opts.ignoreIndex ?? 255;
  const thresh = opts.thresh ?? 0.7;
  const minKept = Math.max(1, opts.minKept ?? 100000);
  return tf.tidy(() => {
    const { nll, valid, prob } = pixelNll(logits, labels, ignoreIndex);
    const keep = noGrad(
      (pr, va) => {
        const n = pr.shape[0]!;
        // Ignored pixels sort last (probabilities are <= 1).
        const p = tf.where(tf.cast(va, 'bool'), pr, tf.fill([n], 2));
        const k = Math.min(minKept + 1, n);
        const ascending = tf.neg(tf.topk(tf.neg(p), k, true).values);
        const nValid = tf.cast(tf.sum(va), 'int32');
        const idx = tf.maximum(tf.minimum(tf.scalar(Math.min(minKept, k - 1), 'int32'), tf.sub(nValid, tf.scalar(1, 'int32'))), tf.scalar(0, 'int32'));
        const threshold = tf.maximum(tf.gather(ascending, tf.reshape(idx, [1])), thresh);
        return tf.mul(va, tf.cast(tf.less(p, threshold), 'float32'));
      },
      prob,
      valid,
    );
    return maskedMean(nll, keep);
  });
}

/**
 * PIDNet `weighted_bce` on boundary logits (B, H, W, 1) against a 0/1 boundary map (B, H, W): BCE with
 * logits, positives (t >= 0.5) weighted by the negative share and negatives by the positive share, mean
 * over all pixels of the batch.
 */
export function weightedBoundaryBce(boundaryLogits: Tensor, boundaryGt: Tensor): Tensor {
  return tf.tidy(() => {
    const x = tf.reshape(boundaryLogits, [-1]);
    const t = tf.cast(tf.reshape(boundaryGt, [-1]), 'float32');
    const pos = tf.cast(tf.greaterEqual(t, 0.5), 'float32');
    const neg = tf.sub(1, pos);
    const posNum = tf.sum(pos);
    const negNum = tf.sum(neg);
    const total = tf.add(posNum, negNum);
    const w = tf.add(tf.mul(pos, tf.div(negNum, total)), tf.mul(neg, tf.div(posNum, total)));
    // max(x, 0) - x t + log(1 + exp(-|x|)): the stable form of -[t log s(x) + (1 - t) log(1 - s(x))].
    const bce = tf.add(tf.sub(tf.relu(x), tf.mul(x, t)), tf.log1p(tf.exp(tf.neg(tf.abs(x)))));
    return tf.mean(tf.mul(w, bce));
  });
}

export interface BEVANetLossOptions {
  ignoreIndex?: number;
  /** Weights of [aux, main] in the semantic term (LOSS.BALANCE_WEIGHTS; Cityscapes configs [0.4, 1.0]). */
  balanceWeights?: [number, number];
  /** Weight of the boundary-restricted semantic term (LOSS.SB_WEIGHTS; 1.0). */
  sbWeight?: number;
  /** Coefficient of the weighted boundary BCE (BoundaryLoss coeff_bce; 20). */
  boundaryCoeff?: number;
  /** OHEM for the main map (LOSS.USE_OHEM; Cityscapes: thresh 0.9, minKept 131072); false: plain CE. */
  ohem?: OhemOptions | false;
  /** Pixels whose sigmoid boundary probability exceeds this feed the boundary-restricted term (0.8). */
  boundaryThreshold?: number;
  /** Upsampling of the 1/8 outputs to the label size (MODEL.ALIGN_CORNERS; true). */
  alignCorners?: boolean;
}

export interface BEVANetLossTerms {
  /** Total: semantic + boundary + semanticBoundary. */
  loss: Tensor;
  /** w_aux * CE(aux) + w_main * OHEM(main). */
  semantic: Tensor;
  /** boundaryCoeff * weighted BCE(boundary). */
  boundary: Tensor;
  /** sbWeight * OHEM(main) on the pixels the boundary head marks (labels elsewhere ignored). */
  semanticBoundary: Tensor;
}

/**
 * BEVANet's training loss (FullModel.forward): every output is resized to the label size (bilinear,
 * align_corners), then loss = [0.4 CE(aux) + OHEM(main)] + 20 wBCE(boundary, edges)
 * + OHEM(main, labels where sigmoid(boundary) > 0.8, ignored elsewhere).
 */
export function bevanetLoss(
  outputs: { aux: Tensor; main: Tensor; boundary: Tensor },
  labels: Tensor,
  boundaryGt: Tensor,
  opts: BEVANetLossOptions = {},
): BEVANetLossTerms {
  const ignoreIndex = opts.ignoreIndex ?? 255;
  const [wAux, wMain] = opts.balanceWeights ?? [0.4, 1.0];
  const ohem = opts.ohem === undefined ? { thresh: 0.9, minKept: 131072 } : opts.ohem;
  const mainLoss = (logits: Tensor, lab: Tensor) => (ohem ? ohemCrossEntropy(logits, lab, { ...ohem, ignoreIndex }) : crossEntropyIgnore(logits, lab, ignoreIndex));
  return tf.tidy(() => {
    const size: [number, number] = [labels.shape[1]!, labels.shape[2]!];
    const up = (t: Tensor) => (t.shape[1] === size[0] && t.shape[2] === size[1] ? t : resizeBilinear(t as Tensor4D, size, opts.alignCorners ?? true));
    const aux = up(outputs.aux);
    const main = up(outputs.main);
    const boundary = up(outputs.boundary);
    const semantic = tf.add(tf.mul(crossEntropyIgnore(aux, labels, ignoreIndex), wAux), tf.mul(mainLoss(main, labels), wMain));
    const boundaryTerm = tf.mul(weightedBoundaryBce(boundary, boundaryGt), opts.boundaryCoeff ?? 20);
    const bdLabels = noGrad(
      (b, l) => tf.where(tf.greater(tf.sigmoid(tf.squeeze(b, [3])), opts.boundaryThreshold ?? 0.8), tf.cast(l, 'int32'), tf.fill(l.shape, ignoreIndex, 'int32')),
      boundary,
      labels,
    );
    const semanticBoundary = tf.mul(mainLoss(main, bdLabels), opts.sbWeight ?? 1);
    return { loss: tf.addN([semantic, boundaryTerm, semanticBoundary]), semantic, boundary: boundaryTerm, semanticBoundary };
  });
}

/**
 * Boundary targets from a label map (B, H, W): 1 where the (2r+1)^2 window around a pixel holds more than
 * one label, else 0. An approximation of the official Canny-on-labels + 4x4 dilation (datasets/base_dataset.py
 * gen_edge), giving a band about 2r pixels wide along every class border.
 */
export function labelBoundaries(labels: Tensor, radius = 2): Tensor {
  return tf.tidy(() => {
    const x = tf.expandDims(tf.cast(labels, 'float32'), -1) as Tensor4D;
    const k = 2 * radius + 1;
    const pad: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [radius, radius], [radius, radius], [0, 0]];
    const hi = tf.maxPool(tf.pad(x, pad, -1e9), k, 1, 'valid');
    const lo = tf.neg(tf.maxPool(tf.pad(tf.neg(x), pad, -1e9), k, 1, 'valid'));
    return tf.squeeze(tf.cast(tf.greater(hi, lo), 'float32'), [3]);
  });
}

/** Output of a training forward as the losses below receive it. */
type NamedOutputs = Record<string, Tensor> | Tensor | Tensor[];

/**
 * BEVANet's loss over its training outputs (main/aux/boundary); a deploy-form model (main map only) falls
 * back to cross entropy. OHEM keeps at least 1/8 of the pixels (the official 131072 of a 1024x1024 crop batch).
 */
function bevanetTrainingLoss(output: NamedOutputs, batch: { y: Tensor }): Tensor {
  const o = output as Record<string, Tensor>;
  return tf.tidy(() => {
    if (!o.aux || !o.boundary) return crossEntropyIgnore(resizeBilinear(o.main as Tensor4D, [batch.y.shape[1]!, batch.y.shape[2]!], true), batch.y);
    const minKept = Math.max(1, Math.floor(batch.y.size / 8));
    return bevanetLoss({ main: o.main!, aux: o.aux, boundary: o.boundary }, batch.y, labelBoundaries(batch.y), { ohem: { thresh: 0.9, minKept } }).loss;
  });
}

/** Model-specific training losses, named by `PretrainedConfig.trainLoss`. */
export const TRAIN_LOSSES: Record<string, (output: NamedOutputs, batch: { y: Tensor }) => Tensor> = {
  bevanet: bevanetTrainingLoss,
};
