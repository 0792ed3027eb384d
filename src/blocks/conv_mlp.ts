/**
 * Convolutional MLPs around a depthwise 3x3 conv: VAN / BEVANet (1x1 conv projections) and PVTv2 / LITv2
 * (Linear projections on NHWC maps): fc1 -> depthwise 3x3 -> GELU -> fc2, and the
 * `DWConv` / `PWConv` wrappers whose extra key level (`dwconv.weight`, `pwconv.weight`) the official
 * checkpoints carry.
 */
import { tf, type Tensor } from '../tf.js';
import { Module, type ChainLayer, type Layer, type LayerModule } from '../nn/module.js';
import { BatchNorm2d, Conv2d, Dropout, GELU, Linear } from '../nn/layers.js';
import type { Pair } from '../nn/functional.js';

export interface DWConvOptions {
  kernelSize?: number | Pair;
  stride?: number | Pair;
  /** Explicit symmetric padding; default 1 (the official default, "same" only for 3x3). */
  padding?: number | Pair;
  dilation?: number | Pair;
  bias?: boolean;
}

/**
 * Depthwise conv wrapped so its keys read `dwconv.weight` (official `DWConv(dim, kernel_size=3, stride=1,
 * padding=1, dilation=1, bias=True)` of VAN and BEVANet).
 */
export class DWConv extends Module implements ChainLayer {
  readonly dwconv: Conv2d;

  constructor(dim: number, opts: DWConvOptions = {}) {
    super();
    this.dwconv = this.add(
      'dwconv',
      new Conv2d(dim, dim, opts.kernelSize ?? 3, { stride: opts.stride ?? 1, padding: opts.padding ?? 1, dilation: opts.dilation ?? 1, groups: dim, bias: opts.bias ?? true }),
    );
  }

  forward(x: Tensor): Tensor {
    return this.dwconv.forward(x);
  }

  /** In a Sequential: the wrapped conv with the batch norm (and ReLU) after it, as Conv2d's. */
  forwardChain(x: Tensor, next: readonly Layer[]): [Tensor, number] {
    return this.dwconv.forwardChain(x, next);
  }
}

/** 1x1 conv wrapped so its keys read `pwconv.weight` (BEVANet `PWConv(in, out=in, bias=True)`). */
export class PWConv extends Module implements ChainLayer {
  readonly pwconv: Conv2d;

  constructor(inChannels: number, outChannels = inChannels, bias = true) {
    super();
    this.pwconv = this.add('pwconv', new Conv2d(inChannels, outChannels, 1, { bias }));
  }

  forward(x: Tensor): Tensor {
    return this.pwconv.forward(x);
  }

  /** In a Sequential: the wrapped conv with the batch norm (and ReLU) after it, as Conv2d's. */
  forwardChain(x: Tensor, next: readonly Layer[]): [Tensor, number] {
    return this.pwconv.forwardChain(x, next);
  }
}

/** How an MLP builds its 1x1 projections: plain Conv2d (VAN `Mlp`) or `PWConv` (BEVANet `MLP`). */
export type Projection = (inChannels: number, outChannels: number) => LayerModule;
export const plainProjection: Projection = (i, o) => new Conv2d(i, o, 1);
export const pwProjection: Projection = (i, o) => new PWConv(i, o);
export const linearProjection: Projection = (i, o) => new Linear(i, o);

/** VAN `Mlp` / BEVANet `MLP`: fc1 (1x1) -> DWConv -> GELU -> fc2 (1x1); GELU comes after the depthwise conv. */
export class ConvMlp extends Module implements Layer {
  readonly fc1: LayerModule;
  readonly dwconv: DWConv;
  readonly act: GELU;
  readonly fc2: LayerModule;
  readonly drop: Dropout;

  constructor(inFeatures: number, hiddenFeatures = inFeatures, outFeatures = inFeatures, drop = 0, projection: Projection = plainProjection) {
    super();
    this.fc1 = this.add('fc1', projection(inFeatures, hiddenFeatures));
    this.dwconv = this.add('dwconv', new DWConv(hiddenFeatures));
    this.act = this.add('act', new GELU());
    this.fc2 = this.add('fc2', projection(hiddenFeatures, outFeatures));
    this.drop = this.add('drop', new Dropout(drop));
  }

  forward(x: Tensor): Tensor {
    return this.forwardAfter(null, x);
  }

  /** forward(bn(x)), with the batch norm folded into fc1 where it is a conv (see Conv2d.forwardAfter). */
  forwardAfter(bn: BatchNorm2d | null, x: Tensor): Tensor {
    return tf.tidy(() => {
      const conv = this.fc1 instanceof PWConv ? this.fc1.pwconv : this.fc1;
      const first = !bn ? this.fc1.forward(x) : conv instanceof Conv2d ? conv.forwardAfter(bn, x) : this.fc1.forward(bn.forward(x));
      const h = this.drop.forward(this.act.forward(this.dwconv.forward(first)));
      return this.drop.forward(this.fc2.forward(h));
    });
  }
}

/**
 * The PVTv2 / LITv2 `DWMlp` ("ConvFFN"): the same MLP with Linear fc1/fc2 on NHWC maps. There is no
 * activation between fc1 and the depthwise conv and no residual around it.
 */
export class DWConvMlp extends ConvMlp {
  constructor(inFeatures: number, hiddenFeatures = inFeatures, outFeatures = inFeatures, drop = 0) {
    super(inFeatures, hiddenFeatures, outFeatures, drop, linearProjection);
  }
}
