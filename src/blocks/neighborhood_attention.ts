/**
 * NATTEN's attention modules and the NAT transformer layer built on them.
 * - `NeighborhoodAttention`: `natten.NeighborhoodAttention{1,2,3}D` of NATTEN 0.17.5 (`dim`, optional
 *   `rpb`) and of NATTEN >= 0.20 (`embed_dim`, stride, causal, no RPB): qkv Linear, neighborhood attention,
 *   proj Linear, on channels-last tokens (B, *spatial, C).
 * - `NATLayer`: NAT's `NATLayer` (optional layer scale) = DiNAT_s / isotropic `NATransformerLayer`.
 */
import { tf, type Tensor } from '../tf.js';
import { Module, type Layer, type Parameter } from '../nn/module.js';
import { DropPath, Dropout, LayerNorm, Linear } from '../nn/layers.js';
import { constant, truncNormal } from '../nn/init.js';
import { neighborhoodAttention } from '../kernels/neighborhood_attention.js';
import { Mlp } from './attention.js';

export interface NeighborhoodAttentionConfig {
  dim: number;
  numHeads: number;
  /** Number of spatial axes of the input (B, *spatial, C). */
  spatialRank: number;
  kernelSize: number | number[];
  dilation?: number | number[];
  stride?: number | number[];
  isCausal?: boolean | boolean[];
  /** NATTEN 0.17 relative positional bias `rpb` (heads, 2k-1, ...). */
  relPosBias?: boolean;
  qkvBias?: boolean;
  qkScale?: number | null;
  projDrop?: number;
}

export class NeighborhoodAttention extends Module implements Layer {
  readonly rpb: Parameter | null;
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly projDrop: Dropout;
  readonly headDim: number;
  readonly scale: number;

  constructor(readonly cfg: NeighborhoodAttentionConfig) {
    super();
    const { dim, numHeads, spatialRank } = cfg;
    if (dim % numHeads) throw new Error(`NeighborhoodAttention: dim ${dim} is not divisible by num_heads ${numHeads}`);
    this.headDim = dim / numHeads;
    this.scale = cfg.qkScale ?? this.headDim ** -0.5;
    const ks = Array.isArray(cfg.kernelSize) ? cfg.kernelSize : Array.from({ length: spatialRank }, () => cfg.kernelSize as number);
    // NATTEN 0.17 registers rpb as the module's own parameter, so it precedes qkv/proj in the state dict.
    this.rpb = cfg.relPosBias ? this.param('rpb', [numHeads, ...ks.map((k) => 2 * k - 1)], truncNormal(0.02)) : null;
    this.qkv = this.add('qkv', new Linear(dim, 3 * dim, { bias: cfg.qkvBias ?? true }));
    this.proj = this.add('proj', new Linear(dim, dim));
    this.projDrop = this.add('proj_drop', new Dropout(cfg.projDrop ?? 0));
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const lead = x.shape.slice(0, -1);
      const h = this.cfg.numHeads;
      // qkv channels are ordered (3, heads, head_dim) (docs/families/nat.md#attention-module). Splitting on a
      // leading axis is a contiguous copy; tf.unstack on an inner axis is ~100x slower on wasm.
      const rows = lead.reduce((a, b) => a * b, 1);
      const qkv = tf.transpose(tf.reshape(this.qkv.forward(x), [rows, 3, this.cfg.dim]), [1, 0, 2]);
      const [q, k, v] = tf.unstack(qkv, 0).map((t) => tf.reshape(t, [...lead, h, this.headDim]));
      const y = neighborhoodAttention(q!, k!, v!, {
        kernelSize: this.cfg.kernelSize,
        dilation: this.cfg.dilation ?? 1,
        stride: this.cfg.stride ?? 1,
        isCausal: this.cfg.isCausal ?? false,
        scale: this.scale,
        rpb: this.rpb?.value ?? null,
      });
      return this.projDrop.forward(this.proj.forward(tf.reshape(y, [...lead, this.cfg.dim])));
    });
  }
}

export interface NATLayerConfig {
  dim: number;
  numHeads: number;
  kernelSize?: number;
  dilation?: number;
  mlpRatio?: number;
  qkvBias?: boolean;
  qkScale?: number | null;
  drop?: number;
  dropPath?: number;
  /** Layer scale init value (NAT-S/B, DiNAT-B): adds `gamma1`, `gamma2`. */
  layerScale?: number | null;
  normEps?: number;
}

/** Pre-norm NA transformer layer on (B, H, W, C): x + g1*NA(LN(x)), then x + g2*MLP(LN(x)). */
export class NATLayer extends Module implements Layer {
  readonly gamma1: Parameter | null;
  readonly gamma2: Parameter | null;
  readonly norm1: LayerNorm;
  readonly attn: NeighborhoodAttention;
  readonly dropPath: DropPath;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp;

  constructor(cfg: NATLayerConfig) {
    super();
    const { dim } = cfg;
    const ls = cfg.layerScale;
    this.gamma1 = typeof ls === 'number' ? this.param('gamma1', [dim], constant(ls)) : null;
    this.gamma2 = typeof ls === 'number' ? this.param('gamma2', [dim], constant(ls)) : null;
    const eps = cfg.normEps ?? 1e-5;
    this.norm1 = this.add('norm1', new LayerNorm(dim, eps));
    this.attn = this.add(
      'attn',
      new NeighborhoodAttention({
        dim,
        numHeads: cfg.numHeads,
        spatialRank: 2,
        kernelSize: cfg.kernelSize ?? 7,
        dilation: cfg.dilation ?? 1,
        relPosBias: true,
        qkvBias: cfg.qkvBias ?? true,
        qkScale: cfg.qkScale ?? null,
        projDrop: cfg.drop ?? 0,
      }),
    );
    this.dropPath = this.add('drop_path', new DropPath(cfg.dropPath ?? 0));
    this.norm2 = this.add('norm2', new LayerNorm(dim, eps));
    this.mlp = this.add('mlp', new Mlp(dim, Math.trunc(dim * (cfg.mlpRatio ?? 4)), dim, cfg.drop ?? 0));
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const y = this.dropPath.residual(x, this.attn.forward(this.norm1.forward(x)), this.gamma1?.value);
      return this.dropPath.residual(y, this.mlp.forward(this.norm2.forward(y)), this.gamma2?.value);
    });
  }
}
