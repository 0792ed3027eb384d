/**
 * HiLo attention (Pan, Cai, Zhuang; "Fast Vision Transformers with HiLo Attention", NeurIPS 2022, Sec. 3.2),
 * official code ziplab/LITv2. The heads are split by alpha: (1-alpha) of them attend inside local ws x ws
 * windows (Hi-Fi, high frequencies), alpha of them attend from every token to ws x ws average-pooled keys
 * and values (Lo-Fi, low frequencies). Window size 1 makes every head a Lo-Fi head without pooling, i.e.
 * plain multi-head self-attention with separate q and kv projections.
 */
import { tf, type Tensor, type Tensor4D } from '../tf.js';
import { Module, type Layer } from '../nn/module.js';
import { DropPath, LayerNorm, Linear } from '../nn/layers.js';
import * as F from '../nn/functional.js';
import { DWConvMlp } from './conv_mlp.js';
import { softmaxAttention } from './attention.js';

export interface HiLoOptions {
  numHeads?: number;
  qkvBias?: boolean;
  qkScale?: number | null;
  /** The paper's s. */
  windowSize?: number;
  /** Fraction of heads in Lo-Fi. */
  alpha?: number;
}

export class HiLo extends Module implements Layer {
  readonly headDim: number;
  readonly lHeads: number;
  readonly hHeads: number;
  readonly lDim: number;
  readonly hDim: number;
  readonly ws: number;
  readonly scale: number;
  readonly l_q?: Linear;
  readonly l_kv?: Linear;
  readonly l_proj?: Linear;
  readonly h_qkv?: Linear;
  readonly h_proj?: Linear;

  constructor(
    readonly dim: number,
    opts: HiLoOptions = {},
  ) {
    super();
    const numHeads = opts.numHeads ?? 8;
    if (dim % numHeads) throw new Error(`HiLo: dim ${dim} is not divisible by ${numHeads} heads`);
    this.headDim = dim / numHeads;
    this.ws = opts.windowSize ?? 2;
    // Python int() of the float product (alpha 0.9 with 12 heads gives 10 Lo-Fi heads).
    this.lHeads = this.ws === 1 ? numHeads : Math.trunc(numHeads * (opts.alpha ?? 0.5));
    this.hHeads = numHeads - this.lHeads;
    this.lDim = this.lHeads * this.headDim;
    this.hDim = this.hHeads * this.headDim;
    this.scale = opts.qkScale || this.headDim ** -0.5;
    const bias = opts.qkvBias ?? false;
    if (this.lHeads > 0) {
      this.l_q = this.add('l_q', new Linear(dim, this.lDim, { bias }));
      this.l_kv = this.add('l_kv', new Linear(dim, 2 * this.lDim, { bias }));
      this.l_proj = this.add('l_proj', new Linear(this.lDim, this.lDim));
    }
    if (this.hHeads > 0) {
      this.h_qkv = this.add('h_qkv', new Linear(dim, 3 * this.hDim, { bias }));
      this.h_proj = this.add('h_proj', new Linear(this.hDim, this.hDim));
    }
  }

  /**
   * Attention inside non-overlapping ws x ws windows. tokens (1, B*H*W, C) in row-major (b, y, x) order of
   * a (B, H, W) map whose sides are multiples of ws; returns (1, B*H*W, hDim) in the same order.
   */
  private hifi(tokens: Tensor, B: number, H: number, W: number): Tensor {
    const ws = this.ws;
    const [hg, wg] = [H / ws, W / ws];
    const heads = this.hHeads;
    const d = this.headDim;
    const qkv = this.h_qkv!.forward(tokens);
    // (B*hg, ws, wg, ws, [3, heads, d]) -> windows (B*hg*wg, ws*ws, 3*heads, d) -> (windows, 3*heads, ws*ws, d),
    // then q, k, v are thirds of axis 1; rank 4 throughout (tfjs-wasm's transposes above rank 4 are slow).
    const rows = tf.transpose(tf.reshape(qkv, [B * hg, ws, wg, ws * 3 * this.hDim]), [0, 2, 1, 3]);
    const windows = tf.transpose(tf.reshape(rows, [B * hg * wg, ws * ws, 3 * heads, d]), [0, 2, 1, 3]);
    const [q, k, v] = tf.split(windows, 3, 1) as [Tensor, Tensor, Tensor];
    const o = softmaxAttention(q, k, v, this.scale);
    const merged = tf.reshape(tf.transpose(o, [0, 2, 1, 3]), [B * hg, wg, ws, ws * this.hDim]);
    return this.h_proj!.forward(tf.reshape(tf.transpose(merged, [0, 2, 1, 3]), [1, B * H * W, this.hDim]));
  }

  /**
   * Every token attends to the ws x ws average-pooled map. x (B, H, W, C) with H, W multiples of ws, and
   * its tokens (1, B*H*W, C); returns (1, B*H*W, lDim).
   */
  private lofi(x: Tensor4D, tokens: Tensor): Tensor {
    const [B, H, W, C] = x.shape;
    const heads = this.lHeads;
    const d = this.headDim;
    const q = tf.transpose(tf.reshape(this.l_q!.forward(tokens), [B, H * W, heads, d]), [0, 2, 1, 3]);
    const src = this.ws > 1 ? tf.reshape(F.avgPool2d(x, this.ws), [1, -1, C]) : tokens;
    // (B, N, [2, heads, d]) -> (B, 2*heads, N, d): k and v are the halves of axis 1.
    const kv = tf.transpose(tf.reshape(this.l_kv!.forward(src), [B, -1, 2 * heads, d]), [0, 2, 1, 3]);
    const [k, v] = tf.split(kv, 2, 1) as [Tensor, Tensor];
    const o = softmaxAttention(q, k, v, this.scale);
    return this.l_proj!.forward(tf.reshape(tf.transpose(o, [0, 2, 1, 3]), [1, B * H * W, this.lDim]));
  }

  /**
   * x (B, H, W, C) -> (B, H, W, C), channels [Hi-Fi | Lo-Fi]. Sizes that ws does not divide are zero-padded
   * at the bottom and right and cropped afterwards (the official detection/segmentation HiLo); padded
   * tokens are not masked, so they act as keys and values and enter the pooled averages as zeros. The
   * branches work on tokens (1, B*H*W, C), where the projections need no reshapes of their own.
   */
  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const [, H, W] = x.shape as number[];
      const xp = F.padToMultiple(x, this.ws, this.ws) as Tensor4D;
      const [B, Hp, Wp, C] = xp.shape;
      const tokens = tf.reshape(xp, [1, B * Hp * Wp, C]);
      const outs: Tensor[] = [];
      if (this.hHeads > 0) outs.push(this.hifi(tokens, B, Hp, Wp));
      if (this.lHeads > 0) outs.push(this.lofi(xp, tokens));
      const y = tf.reshape(outs.length === 1 ? outs[0]! : tf.concat(outs, 2), [B, Hp, Wp, C]);
      return xp !== x ? tf.slice(y, [0, 0, 0, 0], [-1, H!, W!, -1]) : y;
    });
  }
}

/** LITv2 `Block`: x + HiLo(LN(x)), then x + ConvFFN(LN(x)), on NHWC maps. */
export class HiLoBlock extends Module implements Layer {
  readonly norm1: LayerNorm;
  readonly attn: HiLo;
  readonly drop_path: DropPath;
  readonly norm2: LayerNorm;
  readonly mlp: DWConvMlp;

  constructor(dim: number, opts: HiLoOptions & { mlpRatio?: number; drop?: number; dropPath?: number } = {}) {
    super();
    this.norm1 = this.add('norm1', new LayerNorm(dim));
    this.attn = this.add('attn', new HiLo(dim, opts));
    this.drop_path = this.add('drop_path', new DropPath(opts.dropPath ?? 0));
    this.norm2 = this.add('norm2', new LayerNorm(dim));
    this.mlp = this.add('mlp', new DWConvMlp(dim, Math.trunc(dim * (opts.mlpRatio ?? 4)), dim, opts.drop ?? 0));
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const y = tf.add(x, this.drop_path.forward(this.attn.forward(this.norm1.forward(x))));
      return tf.add(y, this.drop_path.forward(this.mlp.forward(this.norm2.forward(y))));
    });
  }
}

/** LITv2 `ConvFFNBlock` of the MSA-free early stages: x + ConvFFN(LN(x)), no attention and no norm1. */
export class ConvFFNBlock extends Module implements Layer {
  readonly drop_path: DropPath;
  readonly norm2: LayerNorm;
  readonly mlp: DWConvMlp;

  constructor(dim: number, opts: { mlpRatio?: number; drop?: number; dropPath?: number } = {}) {
    super();
    this.drop_path = this.add('drop_path', new DropPath(opts.dropPath ?? 0));
    this.norm2 = this.add('norm2', new LayerNorm(dim));
    this.mlp = this.add('mlp', new DWConvMlp(dim, Math.trunc(dim * (opts.mlpRatio ?? 4)), dim, opts.drop ?? 0));
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => tf.add(x, this.drop_path.forward(this.mlp.forward(this.norm2.forward(x)))));
  }
}
