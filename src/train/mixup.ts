/**
 * Mixup (Zhang et al. 2018) and CutMix (Yun et al. 2019) over a batch, as timm's Mixup in 'batch' mode:
 * each image is mixed with the batch flipped along its first axis; targets mix with the same weight.
 */
import { tf, type Tensor, type Tensor4D } from '../tf.js';
import type { Rng } from '../nn/rng.js';
import { smoothOneHot } from './losses.js';

export interface MixupConfig {
  mixupAlpha: number;
  cutmixAlpha: number;
  /** Probability of mixing a batch at all. */
  prob?: number;
  /** With both enabled: probability of CutMix instead of Mixup. */
  switchProb?: number;
  labelSmoothing?: number;
  numClasses: number;
}

function gamma(rng: Rng, a: number): number {
  // Marsaglia & Tsang; for a < 1 use gamma(a + 1) * U^(1/a).
  if (a < 1) return gamma(rng, a + 1) * rng.uniform() ** (1 / a);
  const d = a - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = rng.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rng.uniform();
    if (u < 1 - 0.0331 * x ** 4 || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

export function sampleBeta(rng: Rng, a: number, b: number): number {
  const x = gamma(rng, a);
  const y = gamma(rng, b);
  return x / (x + y);
}

/** Returns mixed images and soft targets; without mixing, smoothed one-hot targets. */
export function mixBatch(x: Tensor4D, labels: Tensor, cfg: MixupConfig, rng: Rng): { x: Tensor4D; targets: Tensor } {
  const smooth = cfg.labelSmoothing ?? 0;
  const on = (cfg.mixupAlpha > 0 || cfg.cutmixAlpha > 0) && rng.uniform() < (cfg.prob ?? 1);
  if (!on) return { x: x.clone(), targets: smoothOneHot(labels, cfg.numClasses, smooth) };
  const useCutmix = cfg.cutmixAlpha > 0 && (cfg.mixupAlpha <= 0 || rng.uniform() < (cfg.switchProb ?? 0.5));
  const alpha = useCutmix ? cfg.cutmixAlpha : cfg.mixupAlpha;
  let lam = sampleBeta(rng, alpha, alpha);
  return tf.tidy(() => {
    const flipped = tf.reverse(x, 0) as Tensor4D;
    let mixed: Tensor4D;
    if (useCutmix) {
      const [, h, w] = x.shape;
      const cut = Math.sqrt(1 - lam);
      const ch = Math.floor(h * cut);
      const cw = Math.floor(w * cut);
      const cy = rng.int(h);
      const cx = rng.int(w);
      const y0 = Math.max(0, cy - (ch >> 1));
      const y1 = Math.min(h, cy + (ch >> 1));
      const x0 = Math.max(0, cx - (cw >> 1));
      const x1 = Math.min(w, cx + (cw >> 1));
      const box = tf.pad(tf.ones([1, y1 - y0, x1 - x0, 1]), [[0, 0], [y0, h - y1], [x0, w - x1], [0, 0]]);
      mixed = tf.add(tf.mul(x, tf.sub(1, box)), tf.mul(flipped, box)) as Tensor4D;
      lam = 1 - ((y1 - y0) * (x1 - x0)) / (h * w);
    } else mixed = tf.add(tf.mul(x, lam), tf.mul(flipped, 1 - lam)) as Tensor4D;
    const t1 = smoothOneHot(labels, cfg.numClasses, smooth);
    const targets = tf.add(tf.mul(t1, lam), tf.mul(tf.reverse(t1, 0), 1 - lam));
    return { x: mixed, targets };
  });
}
