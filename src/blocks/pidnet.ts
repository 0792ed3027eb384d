/**
 * Building blocks of the PIDNet family of real-time segmenters (Xu et al., "PIDNet", arXiv 2206.02066),
 * reused by BEVANet: ResNet basic / bottleneck blocks and `_make_layer`, the pixel-attention-guided
 * fusion PagFM, and the BN-ReLU-conv segmentation head.
 */
import { tf, type Tensor, type Tensor4D } from '../tf.js';
import { Module, Sequential, type Layer } from '../nn/module.js';
import { BatchNorm2d, Conv2d, ReLU } from '../nn/layers.js';
import { addRelu, resizeBilinear } from '../nn/functional.js';

/** conv3x3(s, no bias)-BN-ReLU-conv3x3-BN + residual, ReLU at the end unless `noRelu`. */
export class BasicBlock extends Module implements Layer {
  static readonly expansion = 1;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly downsample: Sequential | null;

  constructor(inplanes: number, planes: number, stride = 1, downsample: Sequential | null = null, readonly noRelu = false) {
    super();
    this.conv1 = this.add('conv1', new Conv2d(inplanes, planes, 3, { stride, padding: 1, bias: false }));
    this.bn1 = this.add('bn1', new BatchNorm2d(planes));
    this.add('relu', new ReLU());
    this.conv2 = this.add('conv2', new Conv2d(planes, planes, 3, { padding: 1, bias: false }));
    this.bn2 = this.add('bn2', new BatchNorm2d(planes));
    this.downsample = downsample ? this.add('downsample', downsample) : null;
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const out = this.conv2.forwardBatchNorm(this.conv1.forwardBatchNorm(x, this.bn1, 'relu'), this.bn2);
      const shortcut = this.downsample ? this.downsample.forward(x) : x;
      return this.noRelu ? tf.add(out, shortcut) : addRelu(out, shortcut);
    });
  }
}

/** 1x1-BN-ReLU, 3x3(s)-BN-ReLU, 1x1 (-> 2 planes)-BN + residual; no final ReLU by default. */
export class Bottleneck extends Module implements Layer {
  static readonly expansion = 2;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly downsample: Sequential | null;

  constructor(inplanes: number, planes: number, stride = 1, downsample: Sequential | null = null, readonly noRelu = true) {
    super();
    this.conv1 = this.add('conv1', new Conv2d(inplanes, planes, 1, { bias: false }));
    this.bn1 = this.add('bn1', new BatchNorm2d(planes));
    this.conv2 = this.add('conv2', new Conv2d(planes, planes, 3, { stride, padding: 1, bias: false }));
    this.bn2 = this.add('bn2', new BatchNorm2d(planes));
    this.conv3 = this.add('conv3', new Conv2d(planes, planes * Bottleneck.expansion, 1, { bias: false }));
    this.bn3 = this.add('bn3', new BatchNorm2d(planes * Bottleneck.expansion));
    this.add('relu', new ReLU());
    this.downsample = downsample ? this.add('downsample', downsample) : null;
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      let out = this.conv1.forwardBatchNorm(x, this.bn1, 'relu');
      out = this.conv2.forwardBatchNorm(out, this.bn2, 'relu');
      out = this.conv3.forwardBatchNorm(out, this.bn3);
      const shortcut = this.downsample ? this.downsample.forward(x) : x;
      return this.noRelu ? tf.add(out, shortcut) : addRelu(out, shortcut);
    });
  }
}

export type ResBlockKind = 'BasicBlock' | 'Bottleneck';

/**
 * PIDNet's `_make_layer(block, inplanes, planes, n, stride)`: block 0 carries the stride and a 1x1-conv+BN
 * downsample when the shape changes, with the class's default final ReLU (basic: yes, bottleneck: no);
 * blocks 1..n-2 end with ReLU; the last of n > 1 blocks ends without.
 */
export function makeLayer(kind: ResBlockKind, inplanes: number, planes: number, n: number, stride = 1): Sequential {
  const expansion = kind === 'BasicBlock' ? BasicBlock.expansion : Bottleneck.expansion;
  const make = (i: number, p: number, s: number, ds: Sequential | null, noRelu?: boolean) =>
    kind === 'BasicBlock' ? new BasicBlock(i, p, s, ds, noRelu) : new Bottleneck(i, p, s, ds, noRelu);
  const out = planes * expansion;
  const downsample = stride !== 1 || inplanes !== out ? new Sequential(new Conv2d(inplanes, out, 1, { stride, bias: false }), new BatchNorm2d(out)) : null;
  const blocks: Module[] = [make(inplanes, planes, stride, downsample)];
  for (let i = 1; i < n; i++) blocks.push(make(out, planes, 1, null, i === n - 1));
  return new Sequential(...(blocks as (Module & Layer)[]));
}

/**
 * Pixel-attention-guided fusion (`PagFM(in, mid, after_relu, with_channel)`): the detail map x and the
 * semantic map y (lower resolution) meet through s = sigmoid(<f_x(x), up(f_y(y))>_channels) (or per channel
 * through `up` when with_channel); out = (1 - s) x + s up(y). Upsampling is bilinear, align_corners=False.
 */
export class PagFM extends Module {
  readonly f_x: Sequential;
  readonly f_y: Sequential;
  readonly up: Sequential | null;

  constructor(inChannels: number, midChannels: number, readonly afterRelu = false, withChannel = false) {
    super();
    const proj = (i: number, o: number) => new Sequential(new Conv2d(i, o, 1, { bias: false }), new BatchNorm2d(o));
    this.f_x = this.add('f_x', proj(inChannels, midChannels));
    this.f_y = this.add('f_y', proj(inChannels, midChannels));
    this.up = withChannel ? this.add('up', proj(midChannels, inChannels)) : null;
    if (afterRelu) this.add('relu', new ReLU());
  }

  forward(x: Tensor, y: Tensor): Tensor {
    return tf.tidy(() => {
      if (this.afterRelu) {
        x = tf.relu(x);
        y = tf.relu(y);
      }
      const size: [number, number] = [x.shape[1]!, x.shape[2]!];
      const yq = resizeBilinear(this.f_y.forward(y) as Tensor4D, size);
      const prod = tf.mul(this.f_x.forward(x), yq);
      const sim = tf.sigmoid(this.up ? this.up.forward(prod) : tf.sum(prod, -1, true));
      const yUp = resizeBilinear(y as Tensor4D, size);
      return tf.add(tf.mul(tf.sub(1, sim), x), tf.mul(sim, yUp));
    });
  }
}

/** `segmenthead(inplanes, interplanes, outplanes, scale_factor)`: conv1x1(ReLU(BN(conv3x3(ReLU(BN(x)))))) with bias on the last conv. */
export class SegmentHead extends Module implements Layer {
  readonly bn1: BatchNorm2d;
  readonly conv1: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv2: Conv2d;

  constructor(inplanes: number, interplanes: number, outplanes: number, readonly scaleFactor: number | null = null) {
    super();
    this.bn1 = this.add('bn1', new BatchNorm2d(inplanes));
    this.conv1 = this.add('conv1', new Conv2d(inplanes, interplanes, 3, { padding: 1, bias: false }));
    this.bn2 = this.add('bn2', new BatchNorm2d(interplanes));
    this.add('relu', new ReLU());
    this.conv2 = this.add('conv2', new Conv2d(interplanes, outplanes, 1));
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const h = this.conv1.forward(this.bn1.forwardRelu(x));
      const out = this.conv2.forward(this.bn2.forwardRelu(h));
      if (this.scaleFactor === null) return out;
      return resizeBilinear(out, [h.shape[1] * this.scaleFactor, h.shape[2] * this.scaleFactor]);
    });
  }
}
