/**
 * Deformable Token Merging (LITv1, Pan et al. "Less is More: Pay Less Attention in Vision Transformers",
 * AAAI 2022, Sec. 3.3; reused by LITv2): a 2x2 stride-2 deformable conv doubles the channels and halves the
 * resolution, then BatchNorm and GELU. Odd sizes floor (the detection variant; classification asserts even).
 */
import { tf, type Tensor } from '../tf.js';
import { Module, type Layer } from '../nn/module.js';
import { BatchNorm2d, GELU } from '../nn/layers.js';
import { DeformConv2dPack } from './deform_conv.js';

export class DTM extends Module implements Layer {
  readonly dconv: DeformConv2dPack;
  readonly norm_layer: BatchNorm2d;
  readonly act_layer: GELU;
  /** LITv2 trains the offset conv with lr x OFFSET_LR_MULTI (0.01 in every released config). */
  static readonly offsetLrMult = 0.01;

  constructor(
    readonly dim: number,
    outDim = 2 * dim,
  ) {
    super();
    this.dconv = this.add('dconv', new DeformConv2dPack(dim, outDim, 2, { stride: 2 }));
    this.norm_layer = this.add('norm_layer', new BatchNorm2d(outDim));
    this.act_layer = this.add('act_layer', new GELU());
  }

  /** (B, H, W, C) -> (B, floor(H/2), floor(W/2), 2C). */
  forward(x: Tensor): Tensor {
    return tf.tidy(() => this.act_layer.forward(this.norm_layer.forward(this.dconv.forward(x))));
  }
}
