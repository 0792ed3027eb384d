/**
 * Structural re-parameterization (RepVGG / RepLKNet / UniRepLKNet): a train-form module with parallel
 * branches and BatchNorms becomes an equivalent deploy-form module with fewer, fused convolutions.
 * `reparameterize(model)` is the generic entry point (timm's `reparameterize_model`): it walks the module
 * tree and lets every module that knows how fuse itself.
 */
import { tf, type Tensor } from '../tf.js';
import type { Module } from './module.js';
import type { BatchNorm2d, Conv2d } from './layers.js';

/** A module that can turn itself into its deploy form in place (idempotent). */
export interface Reparameterizable {
  reparameterize(): void;
}

export function isReparameterizable(m: Module): m is Module & Reparameterizable {
  return typeof (m as Partial<Reparameterizable>).reparameterize === 'function';
}

/**
 * Fuses every re-parameterizable module of `model`, parents before children (as PyTorch's
 * `for m in model.modules(): m.reparameterize()`); children a parent replaced are visited in their new
 * form. The model keeps computing the same function in eval mode; its state dict becomes the deploy one.
 */
export function reparameterize<M extends Module>(model: M): M {
  const visit = (m: Module): void => {
    if (isReparameterizable(m)) m.reparameterize();
    for (const [, c] of m.namedChildren()) visit(c);
  };
  visit(model);
  return model;
}

/** Eval-mode BatchNorm as y = x * scale + shift (per channel): scale = gamma / sqrt(var + eps), shift = beta - mean * scale. */
export function batchNormScaleShift(bn: BatchNorm2d): { scale: Tensor; shift: Tensor } {
  return tf.tidy(() => {
    const inv = tf.rsqrt(tf.add(bn.runningVar.value, bn.eps));
    const scale = bn.weight ? tf.mul(bn.weight.value, inv) : inv;
    const shifted = tf.neg(tf.mul(bn.runningMean.value, scale));
    const shift = bn.bias ? tf.add(bn.bias.value, shifted) : shifted;
    return { scale, shift };
  });
}

/** Per-output-channel factors shaped to broadcast over a conv weight in its tfjs layout. */
export function outputChannelShape(conv: Conv2d): number[] {
  const s = conv.weight.tfShape;
  // depthwise (kh, kw, C, m): output channel c*m + j lives at [.., c, j]; dense HWIO: the last axis.
  return conv.depthwise ? [1, 1, s[2]!, s[3]!] : [1, 1, 1, s[3]!];
}

/**
 * BN(conv(x)) as a single conv with bias, in tfjs layouts: W' = W * s per output channel,
 * b' = beta + (b - mean) * s with s = gamma / sqrt(var + eps) (UniRepLKNet `fuse_bn`).
 */
export function foldBatchNorm(conv: Conv2d, bn: BatchNorm2d): { weight: Tensor; bias: Tensor } {
  return tf.tidy(() => {
    const { scale, shift } = batchNormScaleShift(bn);
    const weight = tf.mul(conv.weight.value, tf.reshape(scale, outputChannelShape(conv)));
    const bias = conv.bias ? tf.add(shift, tf.mul(conv.bias.value, scale)) : shift;
    return { weight, bias };
  });
}
