/** Basic layers with PyTorch semantics and state dict keys, computing in NHWC. */
import { tf, type Tensor, type Tensor4D, type Variable } from '../tf.js';
import { Module, type ChainLayer, type Layer, type Parameter } from './module.js';
import { CONV_OIHW, LINEAR, depthwiseLayout } from './layout.js';
import { ones, torchDefaultBias, torchDefaultWeight, zeros } from './init.js';
import * as F from './functional.js';
import { globalRng } from './random.js';
import { isReplaying } from './checkpoint.js';
import { batchNormFused, inferenceShortcut, linearFused } from '../kernels/inference.js';
import { BATCH_NORM_RELU, batchNormReluFused } from '../kernels/batch_norm_simd.js';

export interface Conv2dOptions {
  stride?: number | F.Pair;
  padding?: number | F.Pair;
  dilation?: number | F.Pair;
  groups?: number;
  bias?: boolean;
}

/** torch.nn.Conv2d: weight OIHW in state dicts, HWIO (or depthwise (kh,kw,C,m)) in tfjs. */
export class Conv2d extends Module implements ChainLayer {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: F.Pair;
  readonly stride: F.Pair;
  readonly padding: F.Pair;
  readonly dilation: F.Pair;
  readonly groups: number;
  /** groups == in channels (> 1): runs as tfjs depthwiseConv2d. */
  readonly depthwise: boolean;

  constructor(inChannels: number, outChannels: number, kernelSize: number | F.Pair, opts: Conv2dOptions = {}) {
    super();
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernelSize = F.pair(kernelSize);
    this.stride = F.pair(opts.stride ?? 1);
    this.padding = F.pair(opts.padding ?? 0);
    this.dilation = F.pair(opts.dilation ?? 1);
    this.groups = opts.groups ?? 1;
    if (inChannels % this.groups || outChannels % this.groups) {
      throw new Error(`Conv2d: in (${inChannels}) and out (${outChannels}) channels must be divisible by groups (${this.groups})`);
    }
    this.depthwise = this.groups > 1 && this.groups === inChannels;
    const shape = [outChannels, inChannels / this.groups, ...this.kernelSize];
    this.weight = this.param('weight', shape, torchDefaultWeight, this.depthwise ? depthwiseLayout(inChannels) : CONV_OIHW);
    const fanIn = (inChannels / this.groups) * this.kernelSize[0] * this.kernelSize[1];
    this.bias = opts.bias === false ? null : this.param('bias', [outChannels], torchDefaultBias(fanIn));
  }

  /** The conv, then `activation` if given (inside the conv kernel where it can be: see ConvOptions). */
  forward(x: Tensor, activation?: F.ConvActivation): Tensor4D {
    return this.convolve(x, this.weight.value as unknown as Tensor4D, this.bias?.value, activation);
  }

  /**
   * The conv, then `bn`, then `activation`: on the inference path one conv with the eval batch norm folded
   * into its weight and bias (and the activation in its kernel), as written otherwise.
   */
  forwardBatchNorm(x: Tensor, bn: BatchNorm2d, activation?: F.ConvActivation): Tensor4D {
    if (!bn.training && inferenceShortcut()) {
      const [w, b] = bn.foldedConv(this);
      return this.convolve(x, w as Tensor4D, b, activation);
    }
    return tf.tidy(() => {
      const y = bn.forward(this.forward(x));
      return (activation === 'relu' ? tf.relu(y) : activation === 'sigmoid' ? tf.sigmoid(y) : y) as Tensor4D;
    });
  }

  /**
   * `bn`, then the conv: on the inference path one conv with the eval batch norm folded into its weight and
   * bias where that is exact (no zero padding, which would pad the normalized map; no channel groups).
   */
  forwardAfter(bn: BatchNorm2d, x: Tensor): Tensor4D {
    const unpadded = this.padding[0] === 0 && this.padding[1] === 0;
    if (!bn.training && unpadded && this.groups === 1 && inferenceShortcut()) {
      const [w, b] = bn.foldedNextConv(this);
      return this.convolve(x, w as Tensor4D, b, undefined);
    }
    return this.forward(bn.forward(x));
  }

  /** In a Sequential: conv -> BatchNorm2d (-> ReLU) as `forwardBatchNorm`. */
  forwardChain(x: Tensor, next: readonly Layer[]): [Tensor, number] {
    const bn = next[0];
    if (!(bn instanceof BatchNorm2d)) return [this.forward(x), 0];
    const relu = next[1] instanceof ReLU;
    return [this.forwardBatchNorm(x, bn, relu ? 'relu' : undefined), relu ? 2 : 1];
  }

  private convolve(x: Tensor, w: Tensor4D, bias: Tensor | undefined, activation: F.ConvActivation | undefined): Tensor4D {
    return tf.tidy(() => {
      const o = { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups, bias, activation };
      return this.depthwise ? F.depthwiseConv2d(x as Tensor4D, w, o) : F.conv2d(x as Tensor4D, w, o);
    });
  }
}

/** torch.nn.Linear on the last axis of any-rank input: weight (out, in) in state dicts, (in, out) in tfjs. */
export class Linear extends Module implements Layer {
  readonly weight: Parameter;
  readonly bias: Parameter | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: { bias?: boolean } = {},
  ) {
    super();
    this.weight = this.param('weight', [outFeatures, inFeatures], torchDefaultWeight, LINEAR);
    this.bias = opts.bias === false ? null : this.param('bias', [outFeatures], torchDefaultBias(inFeatures));
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      if (x.rank >= 2 && inferenceShortcut()) {
        // The (1, in, out) view the matmul kernel takes, kept (it shares the weight's data).
        const [w] = this.derived('batched weight', [this.weight.value], () => [tf.reshape(this.weight.value, [1, this.inFeatures, this.outFeatures])]);
        return linearFused(x, w!, this.bias?.value ?? null);
      }
      const lead = x.shape.slice(0, -1);
      const a = tf.reshape(x, [-1, this.inFeatures]);
      // The bias in the matmul kernel (tfjs's fused matmul gradient handles it too).
      const y = this.bias ? tf.fused.matMul({ a, b: this.weight.value, bias: this.bias.value }) : tf.matMul(a, this.weight.value);
      return tf.reshape(y, [...lead, this.outFeatures]);
    });
  }
}

/**
 * torch.nn.BatchNorm2d over the channel (last) axis. Training uses batch statistics and updates the
 * running ones (unbiased variance, momentum as PyTorch); eval uses the running statistics.
 */
export class BatchNorm2d extends Module implements ChainLayer {
  readonly weight: Parameter | null;
  readonly bias: Parameter | null;
  readonly runningMean: Parameter;
  readonly runningVar: Parameter;
  readonly numBatchesTracked: Parameter;

  constructor(
    readonly numFeatures: number,
    readonly eps = 1e-5,
    readonly momentum = 0.1,
    affine = true,
  ) {
    super();
    this.weight = affine ? this.param('weight', [numFeatures], ones) : null;
    this.bias = affine ? this.param('bias', [numFeatures], zeros) : null;
    this.runningMean = this.buffer('running_mean', [numFeatures], zeros);
    this.runningVar = this.buffer('running_var', [numFeatures], ones);
    this.numBatchesTracked = this.buffer('num_batches_tracked', [], zeros, 'int64');
  }

  /**
   * Eval batch norm folded into `conv`, which runs before it: the weight scaled per output channel by
   * s = gamma / sqrt(var + eps) and the bias (b - mean) s + beta; cached until a parameter changes.
   */
  foldedConv(conv: Conv2d): [Tensor, Tensor] {
    return this.fold('conv', conv, (scale, shift) => {
      const s = scale();
      // The output channel is the last axis of an HWIO filter; depthwise filters are (kh, kw, C, multiplier).
      const perOut = conv.depthwise ? [1, 1, conv.inChannels, conv.outChannels / conv.inChannels] : [1, 1, 1, conv.outChannels];
      const b = conv.bias ? tf.add(tf.mul(conv.bias.value, s), shift()) : shift();
      return [tf.mul(conv.weight.value, tf.reshape(s, perOut)), b];
    });
  }

  /**
   * Eval batch norm folded into `conv`, which runs after it (groups 1, no padding): the weight scaled per
   * input channel by s, the bias plus the filter applied to the shift t = beta - mean s; cached until a
   * parameter changes.
   */
  foldedNextConv(conv: Conv2d): [Tensor, Tensor] {
    return this.fold('next conv', conv, (scale, shift) => {
      const perIn = [1, 1, conv.inChannels, 1];
      const w = conv.weight.value;
      const through = tf.sum(tf.mul(w, tf.reshape(shift(), perIn)), [0, 1, 2]);
      return [tf.mul(w, tf.reshape(scale(), perIn)), conv.bias ? tf.add(conv.bias.value, through) : through];
    });
  }

  /**
   * A conv's weight and bias with this batch norm (y = x scale + shift per channel) folded in by `make`, kept
   * as derived tensors of the conv's and this module's parameters.
   */
  private fold(name: string, conv: Conv2d, make: (scale: () => Tensor, shift: () => Tensor) => Tensor[]): [Tensor, Tensor] {
    const [mean, variance] = [this.runningMean.value, this.runningVar.value];
    const [gamma, beta] = [this.weight?.value, this.bias?.value];
    const scale = () => tf.div(gamma ?? 1, tf.sqrt(tf.add(variance, this.eps)));
    const shift = () => tf.sub(beta ?? 0, tf.mul(mean, scale()));
    const sources = [conv.weight.value, conv.bias?.value, mean, variance, gamma, beta].filter((t): t is Variable => t !== undefined);
    const [w, b] = this.derived(name, sources, () => make(scale, shift));
    return [w!, b!];
  }

  /** relu(this(x)): one kernel on the inference path (pre-activation BN -> ReLU -> conv units). */
  forwardRelu(x: Tensor): Tensor {
    if (!this.training && x.rank === 4 && x.dtype === 'float32' && inferenceShortcut(BATCH_NORM_RELU)) {
      return batchNormReluFused(x, this.runningMean.value, this.runningVar.value, this.weight?.value ?? null, this.bias?.value ?? null, this.eps);
    }
    return tf.tidy(() => tf.relu(this.forward(x)));
  }

  /** In a Sequential: BatchNorm2d -> ReLU as `forwardRelu`. */
  forwardChain(x: Tensor, next: readonly Layer[]): [Tensor, number] {
    return next[0] instanceof ReLU ? [this.forwardRelu(x), 1] : [this.forward(x), 0];
  }

  forward(x: Tensor): Tensor {
    const w = this.weight?.value;
    const b = this.bias?.value;
    if (!this.training) {
      if (x.rank === 4 && inferenceShortcut()) return batchNormFused(x, this.runningMean.value, this.runningVar.value, w ?? null, b ?? null, this.eps);
      return tf.batchNorm(x, this.runningMean.value, this.runningVar.value, b, w, this.eps);
    }
    return tf.tidy(() => {
      const axes = x.shape.map((_, i) => i).slice(0, -1);
      const { mean, variance } = tf.moments(x, axes);
      const n = x.size / this.numFeatures;
      // A replayed forward (checkpoint recompute, memory probe) already counted this batch.
      if (!isReplaying()) tf.tidy(() => {
        const m = this.momentum;
        // Running statistics are side effects; the loss never reads them, so no gradient flows here.
        const mu = mean;
        const unbiased = tf.mul(variance, n / Math.max(1, n - 1));
        this.runningMean.value.assign(tf.add(tf.mul(this.runningMean.value, 1 - m), tf.mul(mu, m)));
        this.runningVar.value.assign(tf.add(tf.mul(this.runningVar.value, 1 - m), tf.mul(unbiased, m)));
        this.numBatchesTracked.value.assign(tf.add(this.numBatchesTracked.value, tf.scalar(1, 'int32')));
      });
      // Explicit broadcasting ops: their gradients reduce with sums, while the fused batchNorm's stock
      // gradient tiles the statistics to the input's shape (slow on wasm).
      let y = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, this.eps)));
      if (w) y = tf.mul(y, w);
      if (b) y = tf.add(y, b);
      return y;
    });
  }
}

/**
 * torch.nn.LayerNorm over the last axis. On NHWC maps this is also the "channels_first" LayerNorm of
 * ConvNeXt-style code (normalizing over C at every pixel): same keys, same math.
 */
export class LayerNorm extends Module implements Layer {
  readonly weight: Parameter | null;
  readonly bias: Parameter | null;

  constructor(
    readonly normalizedShape: number,
    readonly eps = 1e-5,
    affine = true,
  ) {
    super();
    this.weight = affine ? this.param('weight', [normalizedShape], ones) : null;
    this.bias = affine ? this.param('bias', [normalizedShape], zeros) : null;
  }

  forward(x: Tensor): Tensor {
    return F.layerNorm(x, this.weight?.value ?? null, this.bias?.value ?? null, this.eps);
  }
}

export class GELU extends Module implements Layer {
  constructor(readonly approximate: 'none' | 'tanh' = 'none') {
    super();
  }

  forward(x: Tensor): Tensor {
    return this.approximate === 'tanh' ? F.geluTanh(x) : F.gelu(x);
  }
}

/** nn.SiLU (swish). */
export class SiLU extends Module implements Layer {
  forward(x: Tensor): Tensor {
    return F.silu(x);
  }
}

/** RMSNorm over the last axis with a weight and no bias (fla / LLaMA style): keys `weight`. */
export class RMSNorm extends Module implements Layer {
  readonly weight: Parameter | null;

  constructor(
    readonly normalizedShape: number,
    readonly eps = 1e-5,
    affine = true,
  ) {
    super();
    this.weight = affine ? this.param('weight', [normalizedShape], ones) : null;
  }

  forward(x: Tensor): Tensor {
    return F.rmsNorm(x, this.weight?.value ?? null, this.eps);
  }
}

export class ReLU extends Module implements Layer {
  forward(x: Tensor): Tensor {
    return tf.relu(x);
  }
}

export class Sigmoid extends Module implements Layer {
  forward(x: Tensor): Tensor {
    return tf.sigmoid(x);
  }
}

export class Identity extends Module implements Layer {
  forward(x: Tensor): Tensor {
    return x;
  }
}

/** Element dropout (training only), scaled by 1/(1-p); masks drawn from the seeded global Rng. */
export class Dropout extends Module implements Layer {
  constructor(readonly p = 0.5) {
    super();
  }

  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x;
    return tf.tidy(() => {
      const keep = 1 - this.p;
      const mask = tf.step(tf.sub(keep, tf.randomUniform(x.shape, 0, 1, 'float32', globalRng().nextU32())));
      return tf.div(tf.mul(x, mask), keep);
    });
  }
}

/** Stochastic depth per sample (timm's drop_path): drops whole residual branches during training. */
/** Stochastic-depth rates rising linearly from 0 to `rate` over `total` blocks (torch.linspace(0, rate, total)). */
export function dropPathSchedule(total: number, rate: number): number[] {
  return Array.from({ length: total }, (_, i) => (total > 1 ? (rate * i) / (total - 1) : 0));
}

export class DropPath extends Module implements Layer {
  constructor(readonly p = 0) {
    super();
  }

  /** x + drop_path(scale * y): the residual of a (layer-scaled) branch, one kernel on the inference path. */
  residual(x: Tensor, y: Tensor, scale?: Tensor | null): Tensor {
    if (this.training && this.p > 0) return tf.tidy(() => tf.add(x, this.forward(scale ? tf.mul(scale, y) : y)));
    return scale ? F.addScaled(x, scale, y) : tf.add(x, y);
  }

  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x;
    return tf.tidy(() => {
      const keep = 1 - this.p;
      const rng = globalRng();
      const b = x.shape[0]!;
      const mask = Float32Array.from({ length: b }, () => (rng.uniform() < keep ? 1 / keep : 0));
      return tf.mul(x, tf.tensor(mask, [b, ...x.shape.slice(1).map(() => 1)]));
    });
  }
}

/** Parameterless op as a module, to keep Sequential indices aligned with the official code. */
export class Lambda extends Module implements Layer {
  constructor(private readonly fn: (x: Tensor) => Tensor) {
    super();
  }

  forward(x: Tensor): Tensor {
    return this.fn(x);
  }
}

