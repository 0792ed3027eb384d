/**
 * Based's linear attention (Arora et al., "Simple linear attention language models balance the
 * recall-throughput tradeoff", arXiv 2402.18668, Sec. 4), as HazyResearch/based @32c1bd4
 * `based/models/mixers/linear_attention.py` computes it (see docs/families/vit_mixers.md):
 * q and k map through the 2nd-order Taylor feature map of exp(q.k / sqrt(F)), then causal linear
 * attention normalized by its row sums. The official module is causal only. Scores inside the N x N
 * (plain) form and inside blocks (chunk form) come from the dot products q . k through the polynomial the
 * feature map stands for; the carried state uses the 1 + F + F^2 features.
 */
import { tf, type Tensor } from '../tf.js';
import { Module } from '../nn/module.js';
import { Linear } from '../nn/layers.js';
import { type FeatureKernel, linearAttention, type LinearAttentionImpl } from '../kernels/linear_attention.js';
import { mergeHeads } from './attention.js';

/** A feature map of the last axis: `TaylorExp(input_dim)` or the base `FeatureMap` (identity). */
export type BasedFeatureMap = { kind: 'taylor_exp'; inputDim: number } | { kind: 'identity' };

/**
 * TaylorExp: phi(z) = [1, z / inputDim^(1/4), vec(z z^T) / (sqrt 2 sqrt inputDim)], all F^2 products kept,
 * so phi(q) . phi(k) = 1 + q.k / sqrt(F) + (q.k)^2 / (2F) (with inputDim = F). (..., F) -> (..., 1 + F + F^2).
 */
export function taylorExp(x: Tensor, inputDim: number): Tensor {
  return tf.tidy(() => {
    const f = x.shape[x.rank - 1]!;
    const lead = x.shape.slice(0, -1);
    const outer = tf.reshape(tf.mul(tf.expandDims(x, -1), tf.expandDims(x, -2)), [...lead, f * f]);
    const one = tf.onesLike(tf.slice(x, x.shape.map(() => 0), [...lead, 1]));
    return tf.concat([one, tf.mul(x, inputDim ** -0.25), tf.mul(outer, 1 / (Math.SQRT2 * Math.sqrt(inputDim)))], -1);
  });
}

export interface BasedLinearAttentionOptions {
  /** q/k width per head before the feature map (16). */
  featureDim?: number;
  /** v width per head (default d_model / num_heads). */
  headDim?: number | null;
  numHeads?: number;
  /** Added to the row sums (1e-12). */
  eps?: number;
  featureMap?: BasedFeatureMap;
  /** `plain` (the official "quadratic" path), `chunk` (blocks with a carried state), or `auto`. */
  impl?: LinearAttentionImpl;
  blockSize?: number;
}

/**
 * Based's `LinearAttention`: y_n = sum_{m<=n} (phi(q_n).phi(k_m)) v_m / (sum_{m<=n} phi(q_n).phi(k_m) + eps)
 * per head, heads concatenated, then `out_proj`. No biases. Keys proj_q [H*F, C], proj_k [H*F, C],
 * proj_v [H*hd, C], out_proj [C, H*hd]. The denominator is the same causal sum with v = 1, so both come
 * from one linear attention on [v, 1].
 */
export class BasedLinearAttention extends Module {
  readonly proj_q: Linear;
  readonly proj_k: Linear;
  readonly proj_v: Linear;
  readonly out_proj: Linear;
  readonly featureDim: number;
  readonly headDim: number;
  readonly numHeads: number;
  readonly eps: number;
  readonly featureMap: BasedFeatureMap;

  constructor(
    readonly dModel: number,
    readonly opts: BasedLinearAttentionOptions = {},
  ) {
    super();
    this.numHeads = opts.numHeads ?? 16;
    this.featureDim = opts.featureDim ?? 16;
    this.headDim = opts.headDim ?? Math.floor(dModel / this.numHeads);
    if (this.headDim < 1) throw new Error(`Based LinearAttention: head_dim ${this.headDim} (d_model ${dModel} / ${this.numHeads} heads) must be at least 1`);
    this.eps = opts.eps ?? 1e-12;
    this.featureMap = opts.featureMap ?? { kind: 'taylor_exp', inputDim: this.featureDim };
    const h = this.numHeads;
    this.proj_q = this.add('proj_q', new Linear(dModel, this.featureDim * h, { bias: false }));
    this.proj_k = this.add('proj_k', new Linear(dModel, this.featureDim * h, { bias: false }));
    this.proj_v = this.add('proj_v', new Linear(dModel, h * this.headDim, { bias: false }));
    this.out_proj = this.add('out_proj', new Linear(h * this.headDim, dModel, { bias: false }));
  }

  /** The feature map as a kernel: Taylor's phi(q) . phi(k) = 1 + s / sqrt(in) + s^2 / (2 in) of s = q . k. */
  private kernel(): FeatureKernel | undefined {
    const fm = this.featureMap;
    if (fm.kind === 'identity') return undefined;
    return {
      score: (s) => tf.add(tf.add(tf.mul(s, fm.inputDim ** -0.5), tf.mul(tf.square(s), 1 / (2 * fm.inputDim))), 1),
      features: (x) => taylorExp(x, fm.inputDim),
      featureSize: (d) => 1 + d + d * d,
    };
  }

  /** x (B, N, C) -> (B, N, C). */
  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const [b, n] = x.shape as [number, number];
      const h = this.numHeads;
      const heads = (t: Tensor, d: number) => tf.transpose(tf.reshape(t, [b, n, h, d]), [0, 2, 1, 3]);
      const q = heads(this.proj_q.forward(x), this.featureDim);
      const k = heads(this.proj_k.forward(x), this.featureDim);
      const v = heads(this.proj_v.forward(x), this.headDim);
      const vOne = tf.concat([v, tf.onesLike(tf.slice(v, [0, 0, 0, 0], [-1, -1, -1, 1]))], -1);
      const o = linearAttention(q, k, vOne, { causal: true, kernel: this.kernel(), impl: this.opts.impl, blockSize: this.opts.blockSize });
      const [num, den] = tf.split(o, [this.headDim, 1], -1) as [Tensor, Tensor];
      return this.out_proj.forward(mergeHeads(tf.div(num, tf.add(den, this.eps))));
    });
  }
}
