/**
 * Patch embeddings: overlapping (VAN, PVTv2-style) and the plain ViT one (timm / DeiT `PatchEmbed`).
 */
import { tf, type Tensor } from '../tf.js';
import { Module, type Layer } from '../nn/module.js';
import { BatchNorm2d, Conv2d } from '../nn/layers.js';
import { type Pair, pair } from '../nn/functional.js';

export class OverlapPatchEmbed extends Module implements Layer {
  readonly proj: Conv2d;
  readonly norm: BatchNorm2d;

  constructor(patchSize = 7, stride = 4, inChans = 3, embedDim = 768) {
    super();
    this.proj = this.add('proj', new Conv2d(inChans, embedDim, patchSize, { stride, padding: Math.floor(patchSize / 2) }));
    this.norm = this.add('norm', new BatchNorm2d(embedDim));
  }

  /** NHWC -> NHWC at 1/stride; the output's H and W are its shape[1..2]. */
  forward(x: Tensor): Tensor {
    return this.proj.forwardBatchNorm(x, this.norm);
  }
}

/** An image size or patch size as timm's to_2tuple reads it: 224 -> [224, 224], [H, W] as given. */
export type Size2 = number | Pair;

/**
 * ViT patch embedding built for one image size (timm `PatchEmbed` with strict_img_size): a conv with kernel =
 * stride = patch; the grid is floor(img / patch) per axis and the input must have exactly `imgSize`, since
 * the model's per-token parameters (position embeddings, ...) were sized from it. Keys proj.*.
 */
export class ViTPatchEmbed extends Module implements Layer {
  readonly proj: Conv2d;
  readonly imgSize: Pair;
  readonly patchSize: Pair;
  /** Patch rows and columns. */
  readonly gridSize: Pair;
  readonly numPatches: number;

  /** `dynamic`: any input whose sides are multiples of the patch (timm's dynamic_img_size); else exactly imgSize. */
  constructor(imgSize: Size2, patchSize: Size2, inChans: number, embedDim: number, readonly owner = 'ViT', readonly dynamic = false) {
    super();
    this.imgSize = pair(imgSize);
    this.patchSize = pair(patchSize);
    this.gridSize = [Math.floor(this.imgSize[0] / this.patchSize[0]), Math.floor(this.imgSize[1] / this.patchSize[1])];
    this.numPatches = this.gridSize[0] * this.gridSize[1];
    if (this.numPatches < 1) throw new Error(`${owner}: img_size ${this.imgSize.join('x')} holds no ${this.patchSize.join('x')} patch`);
    this.proj = this.add('proj', new Conv2d(inChans, embedDim, this.patchSize, { stride: this.patchSize }));
  }

  /** NHWC image of exactly `imgSize` -> the NHWC patch map (B, gridH, gridW, C). */
  forward(x: Tensor): Tensor {
    const [, h, w] = x.shape as number[];
    if (this.dynamic) {
      if (h! % this.patchSize[0] || w! % this.patchSize[1]) throw new Error(`${this.owner}: input ${h}x${w} is not a multiple of the patch size ${this.patchSize.join('x')}`);
    } else if (h !== this.imgSize[0] || w !== this.imgSize[1]) {
      throw new Error(`${this.owner}: input image size ${h}x${w} doesn't match the model's img_size ${this.imgSize.join('x')} (build it with imgSize: [${h}, ${w}])`);
    }
    return this.proj.forward(x);
  }

  /** NHWC image -> tokens (B, gridH * gridW, C) in row-major patch order. */
  tokens(x: Tensor): Tensor {
    return tf.tidy(() => {
      const y = this.forward(x);
      return tf.reshape(y, [y.shape[0]!, y.shape[1]! * y.shape[2]!, y.shape[3]!]);
    });
  }
}
