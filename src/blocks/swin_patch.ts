/**
 * Swin Transformer's patch embedding and patch merging (Liu et al., arXiv 2103.14030), as vendored by DiNAT_s
 * and the isotropic NAT (`classification/dinats.py`). Channels-last tokens (B, H, W, C) in and out.
 */
import { tf, type Tensor, type Tensor4D } from '../tf.js';
import { Module, type Layer } from '../nn/module.js';
import { Conv2d, LayerNorm, Linear } from '../nn/layers.js';
import { padToMultiple, stridedWindow } from '../nn/functional.js';

/** p x p stride-p conv (zero-padding right/bottom to a multiple of p first), then LayerNorm when `norm`. */
export class SwinPatchEmbed extends Module implements Layer {
  readonly proj: Conv2d;
  readonly norm: LayerNorm | null;

  constructor(
    readonly patchSize = 4,
    inChans = 3,
    embedDim = 96,
    norm = true,
    normEps = 1e-5,
  ) {
    super();
    this.proj = this.add('proj', new Conv2d(inChans, embedDim, patchSize, { stride: patchSize }));
    this.norm = norm ? this.add('norm', new LayerNorm(embedDim, normEps)) : null;
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const y = this.proj.forward(padToMultiple(x, this.patchSize, this.patchSize));
      return this.norm ? this.norm.forward(y) : y;
    });
  }
}

/**
 * 2x2 patch merging: zero-pad odd H/W at the bottom/right, concatenate x[0::2,0::2], x[1::2,0::2],
 * x[0::2,1::2], x[1::2,1::2] on channels (in that order; row = H), LayerNorm(4C), Linear(4C -> 2C, no bias).
 */
export class PatchMerging extends Module implements Layer {
  readonly reduction: Linear;
  readonly norm: LayerNorm;

  constructor(readonly dim: number) {
    super();
    this.reduction = this.add('reduction', new Linear(4 * dim, 2 * dim, { bias: false }));
    this.norm = this.add('norm', new LayerNorm(4 * dim));
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const p = padToMultiple(x, 2, 2);
      const [, h, w] = p.shape as number[];
      // stridedWindow, not tf.stridedSlice: tfjs has no StridedSlice gradient.
      const take = (r: number, s: number) => stridedWindow(p as Tensor4D, [r, s], [2, 2], [h! / 2, w! / 2]);
      const merged = tf.concat([take(0, 0), take(1, 0), take(0, 1), take(1, 1)], -1);
      return this.reduction.forward(this.norm.forward(merged));
    });
  }
}
