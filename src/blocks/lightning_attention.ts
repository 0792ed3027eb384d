/**
 * Lightning Attention-2 (Qin et al., "Lightning Attention-2: A Free Lunch for Handling Unlimited Sequence
 * Lengths in Large Language Models", arXiv 2401.04658) in the TransNormerLLM attention block of
 * OpenNLPLab/lightning-attention @d15c385 (`examples/module/tnl_attn.py::TnlAttention`, see
 * docs/families/vit_mixers.md): causal linear attention with a per-head exponential decay,
 * O_h = ((Q_h K_h^T) . M_h) V_h, M_h[i, j] = exp(-s_h (i - j)) for j <= i. The official module is causal
 * only; its Triton kernel computes the block form that kernels/linear_attention.ts `chunk` follows.
 */
import { tf, type Tensor } from '../tf.js';
import { Module, Sequential } from '../nn/module.js';
import { LayerNorm, Linear } from '../nn/layers.js';
import * as F from '../nn/functional.js';
import { linearAttention, type LinearAttentionImpl } from '../kernels/linear_attention.js';
import { mergeHeads, splitHeads } from './attention.js';

/**
 * ALiBi slopes (`_build_slope_tensor`): for a power of 2 heads, start^(i+1) with start = 2^(-2^-(log2 H - 3));
 * otherwise those of the largest power of 2 P below H, then every other slope of 2P for the rest.
 */
export function alibiSlopes(heads: number): number[] {
  const powerOf2 = (n: number) => {
    const start = 2 ** -(2 ** -(Math.log2(n) - 3));
    return Array.from({ length: n }, (_, i) => start ** (i + 1));
  };
  if (Number.isInteger(Math.log2(heads))) return powerOf2(heads);
  const p = 2 ** Math.floor(Math.log2(heads));
  return [...powerOf2(p), ...alibiSlopes(2 * p).filter((_, i) => i % 2 === 0).slice(0, heads - p)];
}

/** The decay rates of layer `layerIdx` of `numLayers`: ALiBi slopes scaled by 1 - l / (L - 1) + 1e-5. */
export function tnlDecaySlopes(heads: number, layerIdx: number, numLayers: number): number[] {
  if (numLayers < 2) throw new Error(`TnlAttention: num_layers must be at least 2 (the slopes divide by num_layers - 1), got ${numLayers}`);
  return alibiSlopes(heads).map((s) => s * (1 - layerIdx / (numLayers - 1) + 1e-5));
}

export interface TnlAttentionOptions {
  /** Biases of every projection (False). */
  bias?: boolean;
  layerIdx?: number;
  numLayers?: number;
  /** `plain` (masked N x N scores, the official reference), `chunk` (the Lightning-2 blocks), or `auto`. */
  impl?: LinearAttentionImpl;
  blockSize?: number;
}

/**
 * TransNormerLLM's attention with Lightning Attention-2: q, k, v = SiLU(x W + b), decayed causal linear
 * attention per head, LayerNorm over C, times a low-rank sigmoid gate of the block input, `o_proj`.
 * The decay slopes are a non-persistent buffer there (not in the state dict): recomputed from num_heads,
 * layer_idx and num_layers. Keys q_proj, k_proj, v_proj, o_proj, norm, output_gate.{0,1}.
 */
export class TnlAttention extends Module {
  readonly q_proj: Linear;
  readonly k_proj: Linear;
  readonly v_proj: Linear;
  readonly o_proj: Linear;
  readonly norm: LayerNorm;
  readonly output_gate: Sequential;
  readonly slopes: number[];

  constructor(
    readonly embedDim: number,
    readonly numHeads: number,
    readonly opts: TnlAttentionOptions = {},
  ) {
    super();
    if (!Number.isInteger(numHeads) || numHeads < 1 || embedDim % numHeads) throw new Error(`TnlAttention: embed_dim ${embedDim} is not divisible by ${numHeads} heads`);
    const bias = opts.bias ?? false;
    const headDim = embedDim / numHeads;
    this.q_proj = this.add('q_proj', new Linear(embedDim, embedDim, { bias }));
    this.k_proj = this.add('k_proj', new Linear(embedDim, embedDim, { bias }));
    this.v_proj = this.add('v_proj', new Linear(embedDim, embedDim, { bias }));
    this.o_proj = this.add('o_proj', new Linear(embedDim, embedDim, { bias }));
    this.norm = this.add('norm', new LayerNorm(embedDim));
    this.output_gate = this.add('output_gate', new Sequential(new Linear(embedDim, headDim, { bias }), new Linear(headDim, embedDim, { bias })));
    this.slopes = tnlDecaySlopes(numHeads, opts.layerIdx ?? 0, opts.numLayers ?? 12);
  }

  /** x (B, N, C) -> (B, N, C). */
  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const heads = (p: Linear) => splitHeads(F.silu(p.forward(x)), this.numHeads);
      const o = linearAttention(heads(this.q_proj), heads(this.k_proj), heads(this.v_proj), {
        causal: true,
        slopes: this.slopes,
        impl: this.opts.impl,
        blockSize: this.opts.blockSize,
      });
      const gate = tf.sigmoid(this.output_gate.forward(x));
      return this.o_proj.forward(tf.mul(this.norm.forward(mergeHeads(o)), gate));
    });
  }
}
