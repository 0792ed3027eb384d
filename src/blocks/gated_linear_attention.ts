/**
 * ViG's token mixer (Liao et al., "ViG: Linear-complexity Visual Sequence Learning with Gated Linear
 * Attention", arXiv 2405.18425, Sec. 3): bidirectional gated linear attention ("direction-wise
 * gating": one q/k/v, separate forward and backward decay gates) plus "2-D gating locality injection"
 * (a per-channel sigmoid gate mixes the GLA output with a depthwise-conv branch). Shared by plain ViG
 * (`vig.py::GatedLinearAttention`, tokens) and ViG-H (`vig_h.py::GLA2D`, maps); same keys in both.
 * Also the SwiGLU MLPs of both (`GLAMLP`, `gMlp`).
 */
import { tf, type Tensor } from '../tf.js';
import { Module, Sequential, type Layer } from '../nn/module.js';
import { Conv2d, Identity, Linear, RMSNorm, SiLU } from '../nn/layers.js';
import { xavierUniform } from '../nn/init.js';
import * as F from '../nn/functional.js';
import { type GlaImpl, glaBidirectional } from '../kernels/gated_linear_attention.js';

export interface GatedLinearAttentionOptions {
  /** key dim K = dim * expandK (0.5 in every ViG config); query/key head dim K / heads. */
  expandK?: number;
  /** value dim V = dim * expandV; the locality mix needs V == dim (expandV 1). */
  expandV?: number;
  /** RMSNorm eps of g_norm / l_norm (1e-6 in every config). */
  normEps?: number;
  /** Gates are logsigmoid(gk) / gateLogitNormalizer (16). */
  gateLogitNormalizer?: number;
  /** Rank of the gate projection (16). */
  gateLowRankDim?: number;
  /** Lower clamp of the log gates (None in every config). */
  clampMin?: number | null;
  /** SiLU after the depthwise conv (ViG-T only). */
  useActInConv?: boolean;
  /** Bias in the depthwise conv (False in every config). */
  useBiasInDwconv?: boolean;
  /** SiLU before o_proj (ViG-T only). */
  useOutAct?: boolean;
  /**
   * Extra factor on the bidirectional output in eval mode: plain ViG's eval branch divides the
   * kernel's (fwd + bwd) / 2 by 2 again (0.5); ViG-H does not (1). Its train branch does not either,
   * and the difference shows through g_norm's eps, so this is applied in eval mode only, as there.
   */
  evalOutputScale?: number;
  /** GLA implementation (default auto: fused WGSL on webgpu, chunk form elsewhere). */
  impl?: GlaImpl;
}

export class GatedLinearAttention extends Module {
  readonly in_proj: Sequential;
  readonly qkv_proj: Linear;
  readonly gk_proj: Sequential;
  readonly o_proj: Linear;
  readonly g_norm: RMSNorm;
  readonly l_norm: RMSNorm;
  readonly g_proj: Linear;
  readonly keyDim: number;
  readonly valueDim: number;
  readonly headKDim: number;
  readonly headVDim: number;
  readonly opts: Required<Omit<GatedLinearAttentionOptions, 'clampMin'>> & { clampMin: number | null };

  constructor(
    readonly dim: number,
    readonly numHeads: number,
    options: GatedLinearAttentionOptions = {},
  ) {
    super();
    this.opts = {
      expandK: 0.5,
      expandV: 1,
      normEps: 1e-6,
      gateLogitNormalizer: 16,
      gateLowRankDim: 16,
      clampMin: null,
      useActInConv: false,
      useBiasInDwconv: false,
      useOutAct: false,
      evalOutputScale: 1,
      impl: 'auto',
      ...options,
    };
    this.keyDim = Math.trunc(dim * this.opts.expandK);
    this.valueDim = Math.trunc(dim * this.opts.expandV);
    if (this.keyDim % numHeads || this.valueDim % numHeads) throw new Error(`GatedLinearAttention: key dim ${this.keyDim} and value dim ${this.valueDim} must be divisible by ${numHeads} heads`);
    if (this.valueDim !== dim) throw new Error(`GatedLinearAttention: value dim (${this.valueDim}) must equal dim (${dim}): the locality branch is mixed per value channel`);
    this.headKDim = this.keyDim / numHeads;
    this.headVDim = this.valueDim / numHeads;
    const { gateLowRankDim: r } = this.opts;
    this.in_proj = this.add('in_proj', new Sequential(new Conv2d(dim, dim, 3, { padding: 1, groups: dim, bias: this.opts.useBiasInDwconv }), this.opts.useActInConv ? new SiLU() : new Identity()));
    this.qkv_proj = this.add('qkv_proj', new Linear(dim, 2 * this.keyDim + this.valueDim, { bias: false }));
    this.gk_proj = this.add('gk_proj', new Sequential(new Linear(dim, r, { bias: false }), new Linear(r, 2 * this.keyDim)));
    this.o_proj = this.add('o_proj', new Linear(this.valueDim, dim, { bias: false }));
    this.g_norm = this.add('g_norm', new RMSNorm(this.headVDim, this.opts.normEps));
    this.l_norm = this.add('l_norm', new RMSNorm(this.headVDim, this.opts.normEps));
    this.g_proj = this.add('g_proj', new Linear(dim, this.valueDim));
    this.resetParameters();
  }

  /** The official reset_parameters: xavier_uniform(gain 2^-2.5) on every projection and the dwconv. */
  resetParameters(): void {
    const init = xavierUniform(2 ** -2.5);
    for (const p of [this.qkv_proj.weight, (this.in_proj.layers[0] as Conv2d).weight, this.g_proj.weight, this.o_proj.weight, ...this.gk_proj.layers.map((l) => (l as Linear).weight)]) p.init = init;
  }

  /** (B, H, W, C) map -> (B, H, W, C); tokens are its row-major flattening (index h*W + w). */
  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const [b, h, w, c] = x.shape as number[];
      const l = h! * w!;
      const { numHeads: nh, headKDim: dk, headVDim: dv, keyDim: kd } = this;
      // Everything below reads the conv branch, never x itself (docs/families/vig.md#2-d-gating-locality-injection).
      const xs = tf.reshape(this.in_proj.forward(x), [b!, l, c!]);
      const [q, k, v] = tf.split(this.qkv_proj.forward(xs), [kd, kd, this.valueDim], 2);
      let gates = tf.div(F.logSigmoid(this.gk_proj.forward(xs)), this.opts.gateLogitNormalizer);
      if (this.opts.clampMin !== null) gates = tf.maximum(gates, this.opts.clampMin);
      const [gf, gb] = tf.split(gates, 2, 2);
      // Head-major channel split: channel -> head channel // d.
      const heads = (t: Tensor, d: number) => tf.transpose(tf.reshape(t, [b!, l, nh, d]), [0, 2, 1, 3]);
      let o = glaBidirectional(heads(q!, dk), heads(k!, dk), heads(v!, dv), heads(gf!, dk), heads(gb!, dk), { impl: this.opts.impl });
      if (!this.training && this.opts.evalOutputScale !== 1) o = tf.mul(o, this.opts.evalOutputScale);
      const global = this.g_norm.forward(tf.transpose(o, [0, 2, 1, 3])); // (B, L, heads, dv)
      const local = this.l_norm.forward(tf.reshape(xs, [b!, l, nh, dv]));
      const gate = tf.reshape(tf.sigmoid(this.g_proj.forward(xs)), [b!, l, nh, dv]);
      // g * global + (1 - g) * local
      let y = tf.reshape(tf.add(local, tf.mul(gate, tf.sub(global, local))), [b!, l, this.valueDim]);
      if (this.opts.useOutAct) y = F.silu(y);
      return tf.reshape(this.o_proj.forward(y), [b!, h!, w!, c!]);
    });
  }

  /** (B, L, C) tokens of an (h, w) grid -> (B, L, C), as the official token-layout forward. */
  forwardTokens(x: Tensor, [h, w]: [number, number]): Tensor {
    return tf.tidy(() => {
      const [b, l, c] = x.shape as number[];
      if (l !== h * w) throw new Error(`GatedLinearAttention: ${l} tokens do not form a ${h}x${w} grid`);
      return tf.reshape(this.forward(tf.reshape(x, [b!, h, w, c!])), [b!, l!, c!]);
    });
  }
}

/** SwiGLU hidden size rounded up to a multiple: `multiple * ceil(int(dim * ratio * 2/3) / multiple)`. */
export function swigluHidden(dim: number, multiple: number, ratio = 4): number {
  const raw = Math.trunc((dim * ratio * 2) / 3);
  return multiple * Math.ceil(raw / multiple);
}

/**
 * SwiGLU MLP: u = fc1(x) (dim -> 2I, no bias); out = fc2(silu(u[:I]) * u[I:]) (I -> out, no bias).
 * The first half is the SiLU-gated one. Keys `gate_proj`/`down_proj` (ViG GLAMLP) or `fc1`/`fc2` (ViG-H gMlp).
 */
export class SwiGLUMlp extends Module implements Layer {
  readonly fc1: Linear;
  readonly fc2: Linear;

  constructor(
    dim: number,
    readonly hidden: number,
    outDim = dim,
    names: [string, string] = ['fc1', 'fc2'],
  ) {
    super();
    this.fc1 = this.add(names[0], new Linear(dim, 2 * hidden, { bias: false }));
    this.fc2 = this.add(names[1], new Linear(hidden, outDim, { bias: false }));
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const [gate, value] = tf.split(this.fc1.forward(x), 2, -1);
      return this.fc2.forward(tf.mul(F.silu(gate!), value!));
    });
  }
}
