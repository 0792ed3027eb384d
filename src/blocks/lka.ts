/**
 * Large Kernel Attention (Guo et al., "Visual Attention Network", arXiv 2202.09741, Sec. 3.2):
 * a KxK kernel decomposed into a depthwise conv, a dilated depthwise conv and a 1x1 conv; the result
 * gates the input elementwise (Eq. 2: Attention = Conv1x1(DW-D-Conv(DW-Conv(F))), Output = Attention * F).
 */
import { tf, type Tensor } from '../tf.js';
import { Module, type Layer, type LayerModule } from '../nn/module.js';
import { BatchNorm2d, Conv2d, DropPath, GELU } from '../nn/layers.js';
import { constant } from '../nn/init.js';
import { ConvMlp } from './conv_mlp.js';

/** The official `LKA` (earlier `AttentionModule`): 5x5 DW, 7x7 DW dilation 3 (19x19 span), 1x1; 21x21 effective kernel. */
export class LKA extends Module implements Layer {
  readonly conv0: Conv2d;
  readonly conv_spatial: Conv2d;
  readonly conv1: Conv2d;

  constructor(dim: number) {
    super();
    this.conv0 = this.add('conv0', new Conv2d(dim, dim, 5, { padding: 2, groups: dim }));
    this.conv_spatial = this.add('conv_spatial', new Conv2d(dim, dim, 7, { padding: 9, groups: dim, dilation: 3 }));
    this.conv1 = this.add('conv1', new Conv2d(dim, dim, 1));
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => tf.mul(x, this.conv1.forward(this.conv_spatial.forward(this.conv0.forward(x)))));
  }
}

/**
 * VAN `Attention` (the paper's spatial attention): proj_1 (1x1) -> GELU -> gating unit -> proj_2 (1x1),
 * plus the input. The gating unit is LKA in VAN; BEVANet swaps in its own large-kernel attentions.
 */
export class SpatialAttention extends Module implements Layer {
  readonly proj_1: LayerModule;
  readonly activation: GELU;
  readonly spatial_gating_unit: LayerModule;
  readonly proj_2: LayerModule;

  constructor(dim: number, gatingUnit: LayerModule = new LKA(dim), projection: (dim: number) => LayerModule = (d) => new Conv2d(d, d, 1)) {
    super();
    this.proj_1 = this.add('proj_1', projection(dim));
    this.activation = this.add('activation', new GELU());
    this.spatial_gating_unit = this.add('spatial_gating_unit', gatingUnit);
    this.proj_2 = this.add('proj_2', projection(dim));
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const a = this.spatial_gating_unit.forward(this.activation.forward(this.proj_1.forward(x)));
      return tf.add(this.proj_2.forward(a), x);
    });
  }
}

/**
 * The VAN block (BEVANet's EVAN block has the same equations):
 * x = x + drop_path(ls1 * attn(BN1(x))); x = x + drop_path(ls2 * mlp(BN2(x))), layer scales init 1e-2.
 */
export class LayerScaleConvBlock extends Module implements Layer {
  readonly norm1: BatchNorm2d;
  readonly attn: LayerModule;
  readonly drop_path: DropPath;
  readonly norm2: BatchNorm2d;
  readonly mlp: LayerModule;
  readonly layer_scale_1;
  readonly layer_scale_2;

  constructor(dim: number, attn: LayerModule, mlp: LayerModule, dropPath = 0, layerScaleInit = 1e-2) {
    super();
    this.layer_scale_1 = this.param('layer_scale_1', [dim], constant(layerScaleInit));
    this.layer_scale_2 = this.param('layer_scale_2', [dim], constant(layerScaleInit));
    this.norm1 = this.add('norm1', new BatchNorm2d(dim));
    this.attn = this.add('attn', attn);
    this.drop_path = this.add('drop_path', new DropPath(dropPath));
    this.norm2 = this.add('norm2', new BatchNorm2d(dim));
    this.mlp = this.add('mlp', mlp);
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const y = this.drop_path.residual(x, this.attn.forward(this.norm1.forward(x)), this.layer_scale_1.value);
      const m = this.mlp instanceof ConvMlp ? this.mlp.forwardAfter(this.norm2, y) : this.mlp.forward(this.norm2.forward(y));
      return this.drop_path.residual(y, m, this.layer_scale_2.value);
    });
  }
}
