/** Convolutional MLPs around a depthwise 3x3 conv: VAN / BEVANet (1x1 convs) and PVTv2 / LITv2 (linears). */
import { tf, type Tensor } from '../tf.js';
import { Module, type Layer } from '../nn/module.js';
import { Conv2d, Dropout, GELU, Linear } from '../nn/layers.js';

/** Depthwise 3x3 conv with bias, wrapped so its keys read `dwconv.weight` (official `DWConv`). */
export class DWConv extends Module implements Layer {
  readonly dwconv: Conv2d;

  constructor(dim: number) {
    super();
    this.dwconv = this.add('dwconv', new Conv2d(dim, dim, 3, { padding: 1, groups: dim }));
  }

  forward(x: Tensor): Tensor {
    return this.dwconv.forward(x);
  }
}

/** VAN `Mlp`: fc1 (1x1) -> DWConv -> GELU -> fc2 (1x1); GELU comes after the depthwise conv. */
export class ConvMlp extends Module implements Layer {
  readonly fc1: Conv2d;
  readonly dwconv: DWConv;
  readonly act: GELU;
  readonly fc2: Conv2d;
  readonly drop: Dropout;

  constructor(inFeatures: number, hiddenFeatures = inFeatures, outFeatures = inFeatures, drop = 0) {
    super();
    this.fc1 = this.add('fc1', new Conv2d(inFeatures, hiddenFeatures, 1));
    this.dwconv = this.add('dwconv', new DWConv(hiddenFeatures));
    this.act = this.add('act', new GELU());
    this.fc2 = this.add('fc2', new Conv2d(hiddenFeatures, outFeatures, 1));
    this.drop = this.add('drop', new Dropout(drop));
  }

  forward(x: Tensor): Tensor {
    const h = this.drop.forward(this.act.forward(this.dwconv.forward(this.fc1.forward(x))));
    return this.drop.forward(this.fc2.forward(h));
  }
}

/**
 * The PVTv2 / LITv2 `DWMlp` ("ConvFFN"): Linear fc1 -> depthwise 3x3 conv -> GELU -> Linear fc2, on NHWC
 * maps. There is no activation between fc1 and the depthwise conv and no residual around it.
 */
export class DWConvMlp extends Module implements Layer {
  readonly fc1: Linear;
  readonly dwconv: DWConv;
  readonly act: GELU;
  readonly fc2: Linear;
  readonly drop: Dropout;

  constructor(inFeatures: number, hiddenFeatures = inFeatures, outFeatures = inFeatures, drop = 0) {
    super();
    this.fc1 = this.add('fc1', new Linear(inFeatures, hiddenFeatures));
    this.dwconv = this.add('dwconv', new DWConv(hiddenFeatures));
    this.act = this.add('act', new GELU());
    this.fc2 = this.add('fc2', new Linear(hiddenFeatures, outFeatures));
    this.drop = this.add('drop', new Dropout(drop));
  }

  /** x: (B, H, W, C) -> (B, H, W, out). */
  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const h = this.drop.forward(this.act.forward(this.dwconv.forward(this.fc1.forward(x))));
      return this.drop.forward(this.fc2.forward(h));
    });
  }
}
