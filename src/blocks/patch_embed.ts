/** Patch embeddings: overlapping (VAN, PVTv2-style) and timm ViT's. */
import type { Tensor } from '../tf.js';
import { Module, type Layer } from '../nn/module.js';
import { BatchNorm2d, Conv2d } from '../nn/layers.js';

/** Overlapping patch embedding (VAN, PVTv2-style): strided conv with k//2 padding, then BatchNorm. */
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
    return this.norm.forward(this.proj.forward(x));
  }
}

/** timm ViT `PatchEmbed` (proj only, no norm): a patch x patch conv with stride patch, NHWC in and out. */
export class ViTPatchEmbed extends Module implements Layer {
  readonly proj: Conv2d;

  constructor(patchSize: number, inChans: number, embedDim: number) {
    super();
    this.proj = this.add('proj', new Conv2d(inChans, embedDim, patchSize, { stride: patchSize }));
  }

  forward(x: Tensor): Tensor {
    return this.proj.forward(x);
  }
}
