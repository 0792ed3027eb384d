/**
 * mmcv-style `DeformConv2dPack` (DCNv1): a plain conv predicts the sampling offsets, then the deformable
 * conv samples the input there. Keys: weight, bias, conv_offset.{weight,bias} (LITv2's mm_modules/DCN).
 */
import type { Tensor, Tensor4D } from '../tf.js';
import { tf } from '../tf.js';
import { Module, type Layer, type Parameter } from '../nn/module.js';
import { Conv2d, type Conv2dOptions } from '../nn/layers.js';
import { CONV_OIHW } from '../nn/layout.js';
import { torchDefaultBias, torchDefaultWeight, zeros } from '../nn/init.js';
import * as F from '../nn/functional.js';
import { deformConv2d } from '../kernels/deform_conv2d.js';

/** Conv2d's options (no channel groups) plus mmcv's offset groups. */
export interface DeformConvOptions extends Omit<Conv2dOptions, 'groups'> {
  deformGroups?: number;
}

export class DeformConv2dPack extends Module implements Layer {
  readonly weight: Parameter;
  readonly bias: Parameter;
  readonly conv_offset: Conv2d;
  readonly kernelSize: F.Pair;
  readonly stride: F.Pair;
  readonly padding: F.Pair;
  readonly dilation: F.Pair;
  readonly deformGroups: number;
  readonly useBias: boolean;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: number | F.Pair,
    opts: DeformConvOptions = {},
  ) {
    super();
    this.kernelSize = F.pair(kernelSize);
    this.stride = F.pair(opts.stride ?? 1);
    this.padding = F.pair(opts.padding ?? 0);
    this.dilation = F.pair(opts.dilation ?? 1);
    this.deformGroups = opts.deformGroups ?? 1;
    this.useBias = opts.bias ?? true;
    const [kh, kw] = this.kernelSize;
    // kaiming_uniform(a=sqrt 5) and U(+-1/sqrt(fan_in)) as the official reset_parameters.
    this.weight = this.param('weight', [outChannels, inChannels, kh, kw], torchDefaultWeight, CONV_OIHW);
    // The official module always has a bias tensor; bias=False zeroes it (and freezes it).
    this.bias = this.param('bias', [outChannels], this.useBias ? torchDefaultBias(inChannels * kh * kw) : zeros);
    if (!this.useBias) this.bias.trainable = false;
    this.conv_offset = this.add(
      'conv_offset',
      new Conv2d(inChannels, 2 * this.deformGroups * kh * kw, this.kernelSize, { stride: this.stride, padding: this.padding, dilation: this.dilation }),
    );
    // Zero offsets at init: the module starts as a plain convolution.
    this.conv_offset.weight.init = zeros;
    this.conv_offset.bias!.init = zeros;
  }

  /** x (B, H, W, C) -> (B, Ho, Wo, outChannels). */
  forward(x: Tensor): Tensor4D {
    return tf.tidy(() => {
      const offset = this.conv_offset.forward(x);
      return deformConv2d(x as Tensor4D, offset, this.weight.value as unknown as Tensor4D, this.bias.value, {
        stride: this.stride,
        padding: this.padding,
        dilation: this.dilation,
        deformGroups: this.deformGroups,
      });
    });
  }
}
