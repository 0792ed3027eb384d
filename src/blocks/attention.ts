/** Multi-head attention helpers on token tensors, the transformer MLP (timm `Mlp`) and PVT attention blocks. */
import { tf, type Tensor } from '../tf.js';
import { Module, type Layer } from '../nn/module.js';
import { Conv2d, DropPath, Dropout, GELU, LayerNorm, Linear } from '../nn/layers.js';

/** (B, N, h*d) -> (B, h, N, d); channels are head-major as in every PyTorch `reshape(B, N, h, d)`. */
export function splitHeads(x: Tensor, heads: number): Tensor {
  const [b, n, c] = x.shape as [number, number, number];
  return tf.transpose(tf.reshape(x, [b, n, heads, c / heads]), [0, 2, 1, 3]);
}

/**
 * (B, N, parts*h*d) with channels ordered (part, head, d), as a fused qkv / kv projection gives them ->
 * `parts` tensors (B, h, N, d): one reshape, one rank-4 transpose and one split instead of a split and
 * a reshape and transpose per part.
 */
export function splitPartsHeads(x: Tensor, parts: number, heads: number): Tensor[] {
  const [b, n, c] = x.shape as [number, number, number];
  return tf.split(tf.transpose(tf.reshape(x, [b, n, parts * heads, c / (parts * heads)]), [0, 2, 1, 3]), parts, 1);
}

/** (B, h, N, d) -> (B, N, h*d). */
export function mergeHeads(x: Tensor): Tensor {
  const [b, h, n, d] = x.shape as [number, number, number, number];
  return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [b, n, h * d]);
}

/** softmax(q k^T * scale) v over the last two axes (any equal leading batch axes). */
export function softmaxAttention(q: Tensor, k: Tensor, v: Tensor, scale: number): Tensor {
  return tf.tidy(() => tf.matMul(tf.softmax(tf.mul(tf.matMul(q, k, false, true), scale)), v));
}

/**
 * timm's ViT `Attention` (DeiT): one fused qkv projection, softmax(q k^T / sqrt(d)) v per head, proj.
 * Keys qkv, proj. O(N^2) in the token count.
 */
export class Attention extends Module implements Layer {
  readonly qkv: Linear;
  readonly attn_drop: Dropout;
  readonly proj: Linear;
  readonly proj_drop: Dropout;
  readonly scale: number;

  constructor(
    readonly dim: number,
    readonly numHeads = 8,
    opts: { qkvBias?: boolean; attnDrop?: number; projDrop?: number } = {},
  ) {
    super();
    if (dim % numHeads) throw new Error(`attention: dim ${dim} is not divisible by ${numHeads} heads`);
    this.scale = (dim / numHeads) ** -0.5;
    this.qkv = this.add('qkv', new Linear(dim, 3 * dim, { bias: opts.qkvBias ?? false }));
    this.attn_drop = this.add('attn_drop', new Dropout(opts.attnDrop ?? 0));
    this.proj = this.add('proj', new Linear(dim, dim));
    this.proj_drop = this.add('proj_drop', new Dropout(opts.projDrop ?? 0));
  }

  /** x (B, N, C) -> (B, N, C). */
  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const [q, k, v] = splitPartsHeads(this.qkv.forward(x), 3, this.numHeads) as [Tensor, Tensor, Tensor];
      const a = this.attn_drop.forward(tf.softmax(tf.mul(tf.matMul(q, k, false, true), this.scale)));
      return this.proj_drop.forward(this.proj.forward(mergeHeads(tf.matMul(a, v))));
    });
  }
}

/**
 * timm's pre-norm ViT `Block` around any token mixer `attn` on (B, N, C):
 * x + drop_path(attn(norm1(x))), then x + drop_path(mlp(norm2(x))). Keys norm1, attn.*, norm2, mlp.
 */
export class ViTBlock<M extends Module & Layer = Module & Layer> extends Module implements Layer {
  readonly norm1: LayerNorm;
  readonly attn: M;
  readonly drop_path: DropPath;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp;

  constructor(dim: number, attn: M, opts: { mlpRatio?: number; drop?: number; dropPath?: number; normEps?: number } = {}) {
    super();
    const eps = opts.normEps ?? 1e-6;
    this.norm1 = this.add('norm1', new LayerNorm(dim, eps));
    this.attn = this.add('attn', attn);
    this.drop_path = this.add('drop_path', new DropPath(opts.dropPath ?? 0));
    this.norm2 = this.add('norm2', new LayerNorm(dim, eps));
    this.mlp = this.add('mlp', new Mlp(dim, Math.trunc(dim * (opts.mlpRatio ?? 4)), dim, opts.drop ?? 0));
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const y = tf.add(x, this.drop_path.forward(this.attn.forward(this.norm1.forward(x))));
      return tf.add(y, this.drop_path.forward(this.mlp.forward(this.norm2.forward(y))));
    });
  }
}

/** timm `Mlp`: fc1 -> act -> drop -> fc2 -> drop, on the last axis. */
export class Mlp extends Module implements Layer {
  readonly fc1: Linear;
  readonly act: Module & Layer;
  readonly fc2: Linear;
  readonly drop: Dropout;

  constructor(inFeatures: number, hiddenFeatures = inFeatures, outFeatures = inFeatures, drop = 0, act: Module & Layer = new GELU()) {
    super();
    this.fc1 = this.add('fc1', new Linear(inFeatures, hiddenFeatures));
    this.act = this.add('act', act);
    this.fc2 = this.add('fc2', new Linear(hiddenFeatures, outFeatures));
    this.drop = this.add('drop', new Dropout(drop));
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => this.drop.forward(this.fc2.forward(this.drop.forward(this.act.forward(this.fc1.forward(x))))));
  }
}

/**
 * PVT's spatial-reduction attention (Wang et al., PVT, ICCV 2021): q from every token, k and v from tokens
 * merged by an sr x sr strided conv + LayerNorm when sr_ratio > 1 (plain MHSA with separate q and kv
 * projections when 1). Keys q, kv, proj (+ sr, norm).
 */
export class SpatialReductionAttention extends Module {
  readonly q: Linear;
  readonly kv: Linear;
  readonly attn_drop: Dropout;
  readonly proj: Linear;
  readonly proj_drop: Dropout;
  readonly sr?: Conv2d;
  readonly norm?: LayerNorm;
  readonly scale: number;

  constructor(
    readonly dim: number,
    readonly numHeads = 8,
    opts: { qkvBias?: boolean; qkScale?: number | null; attnDrop?: number; projDrop?: number; srRatio?: number } = {},
  ) {
    super();
    if (dim % numHeads) throw new Error(`attention: dim ${dim} is not divisible by ${numHeads} heads`);
    this.scale = opts.qkScale || (dim / numHeads) ** -0.5;
    const bias = opts.qkvBias ?? false;
    this.q = this.add('q', new Linear(dim, dim, { bias }));
    this.kv = this.add('kv', new Linear(dim, 2 * dim, { bias }));
    this.attn_drop = this.add('attn_drop', new Dropout(opts.attnDrop ?? 0));
    this.proj = this.add('proj', new Linear(dim, dim));
    this.proj_drop = this.add('proj_drop', new Dropout(opts.projDrop ?? 0));
    const sr = opts.srRatio ?? 1;
    if (sr > 1) {
      this.sr = this.add('sr', new Conv2d(dim, dim, sr, { stride: sr }));
      this.norm = this.add('norm', new LayerNorm(dim));
    }
  }

  /** x (B, N, C); H, W: the grid of the N tokens (needed only for spatial reduction). */
  forward(x: Tensor, H = 0, W = 0): Tensor {
    return tf.tidy(() => {
      const [b, n, c] = x.shape as [number, number, number];
      const q = splitHeads(this.q.forward(x), this.numHeads);
      let src = x;
      if (this.sr) {
        if (H * W !== n) throw new Error(`spatial reduction needs the ${n} tokens on an H x W grid, got ${H}x${W}`);
        const m = this.sr.forward(tf.reshape(x, [b, H, W, c]));
        src = this.norm!.forward(tf.reshape(m, [b, -1, c]));
      }
      const [k, v] = splitPartsHeads(this.kv.forward(src), 2, this.numHeads) as [Tensor, Tensor];
      const a = this.attn_drop.forward(tf.softmax(tf.mul(tf.matMul(q, k, false, true), this.scale)));
      return this.proj_drop.forward(this.proj.forward(mergeHeads(tf.matMul(a, v))));
    });
  }
}

/** PVT `Block`: pre-norm, x + attn(LN(x)), x + Mlp(LN(x)), drop-path on both branches. */
export class PvtBlock extends Module {
  readonly norm1: LayerNorm;
  readonly attn: SpatialReductionAttention;
  readonly drop_path: DropPath;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp;

  constructor(
    dim: number,
    numHeads: number,
    opts: { mlpRatio?: number; qkvBias?: boolean; qkScale?: number | null; drop?: number; attnDrop?: number; dropPath?: number; srRatio?: number; normEps?: number } = {},
  ) {
    super();
    const eps = opts.normEps ?? 1e-5;
    this.norm1 = this.add('norm1', new LayerNorm(dim, eps));
    this.attn = this.add(
      'attn',
      new SpatialReductionAttention(dim, numHeads, { qkvBias: opts.qkvBias, qkScale: opts.qkScale, attnDrop: opts.attnDrop, projDrop: opts.drop, srRatio: opts.srRatio }),
    );
    this.drop_path = this.add('drop_path', new DropPath(opts.dropPath ?? 0));
    this.norm2 = this.add('norm2', new LayerNorm(dim, eps));
    this.mlp = this.add('mlp', new Mlp(dim, Math.trunc(dim * (opts.mlpRatio ?? 4)), dim, opts.drop ?? 0));
  }

  forward(x: Tensor, H = 0, W = 0): Tensor {
    return tf.tidy(() => {
      const y = tf.add(x, this.drop_path.forward(this.attn.forward(this.norm1.forward(x), H, W)));
      return tf.add(y, this.drop_path.forward(this.mlp.forward(this.norm2.forward(y))));
    });
  }
}
