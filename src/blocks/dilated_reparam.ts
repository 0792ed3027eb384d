/**
 * Dilated Reparam Block (Ding et al., "UniRepLKNet", arXiv 2311.15599, Sec. 3.2 / Fig. 2): a large
 * depthwise kernel trained together with parallel small dilated depthwise kernels, each followed by its
 * own BatchNorm; for inference every branch is folded into one KxK depthwise conv with bias.
 */
import { tf, type Tensor, type Tensor4D } from '../tf.js';
import { Module, type Layer } from '../nn/module.js';
import { BatchNorm2d, Conv2d } from '../nn/layers.js';
import { type Reparameterizable, foldBatchNorm } from '../nn/reparam.js';

/** The official branch table: kernel sizes k_i and dilation rates r_i of the small branches per large kernel K. */
export const DILATED_BRANCHES: Readonly<Record<number, { kernels: readonly number[]; dilations: readonly number[] }>> = {
  17: { kernels: [5, 9, 3, 3, 3], dilations: [1, 2, 4, 5, 7] },
  15: { kernels: [5, 7, 3, 3, 3], dilations: [1, 2, 3, 5, 7] },
  13: { kernels: [5, 7, 3, 3, 3], dilations: [1, 2, 3, 4, 5] },
  11: { kernels: [5, 5, 3, 3, 3], dilations: [1, 2, 3, 4, 5] },
  9: { kernels: [5, 5, 3, 3], dilations: [1, 2, 3, 4] },
  7: { kernels: [5, 3, 3], dilations: [1, 2, 3] },
  5: { kernels: [3, 3], dilations: [1, 2] },
};

/**
 * A dilated kernel (tfjs depthwise or HWIO layout: (k1, k2, a, b)) as the dense kernel of the same
 * receptive field: tap (i, j) moves to (i*r, j*r), zeros between, size r(k-1)+1 per axis (the official
 * conv_transpose2d with a 1x1 ones kernel and stride r).
 */
export function dilateKernel(w: Tensor, r: number): Tensor {
  if (r === 1) return w.clone();
  return tf.tidy(() => {
    const [k1, k2, a, b] = w.shape as [number, number, number, number];
    const e1 = r * (k1 - 1) + 1;
    const e2 = r * (k2 - 1) + 1;
    // Rows: (k1, 1, rest) padded to (k1, r, rest) puts r-1 zero rows after each tap.
    let y = tf.pad(tf.reshape(w, [k1, 1, k2 * a * b]), [[0, 0], [0, r - 1], [0, 0]]);
    y = tf.slice(tf.reshape(y, [k1 * r, k2, a * b]), [0, 0, 0], [e1, k2, a * b]);
    y = tf.pad(tf.reshape(y, [e1, k2, 1, a * b]), [[0, 0], [0, 0], [0, r - 1], [0, 0]]);
    y = tf.slice(tf.reshape(y, [e1, k2 * r, a * b]), [0, 0, 0], [e1, e2, a * b]);
    return tf.reshape(y, [e1, e2, a, b]);
  });
}

/**
 * Adds a dilated kernel (rate r) into a centered larger kernel: the dense equivalent of size r(k-1)+1 is
 * zero-padded by K//2 - e//2 on each side (both tfjs layout, same last two axes).
 */
export function dilatedReparamMerge(largeKernel: Tensor, dilatedKernel: Tensor, r: number): Tensor {
  return tf.tidy(() => {
    const dense = dilateKernel(dilatedKernel, r);
    const [K1, K2] = largeKernel.shape as [number, number];
    const [e1, e2] = dense.shape as [number, number];
    const p1 = (K1 >> 1) - (e1 >> 1);
    const p2 = (K2 >> 1) - (e2 >> 1);
    if (p1 < 0 || p2 < 0) throw new Error(`dilated kernel spans ${e1}x${e2}, more than the large kernel ${K1}x${K2}`);
    return tf.add(largeKernel, tf.pad(dense, [[p1, p1], [p2, p2], [0, 0], [0, 0]]));
  });
}

const branchName = (k: number, r: number) => `k${k}_${r}`;

/**
 * The official `DilatedReparamBlock(channels, kernel_size, deploy)`. Train form:
 * BN_o(DW_K(x)) + sum_i BN_i(DW_{k_i, dilation r_i}(x)), no conv biases. Deploy form: DW_K with bias.
 */
export class DilatedReparamBlock extends Module implements Layer, Reparameterizable {
  lk_origin: Conv2d;
  readonly kernelSize: number;
  readonly kernelSizes: readonly number[];
  readonly dilates: readonly number[];
  private branches: { conv: Conv2d; bn: BatchNorm2d; r: number }[] = [];
  private originBn: BatchNorm2d | null = null;

  constructor(
    readonly channels: number,
    kernelSize: number,
    deploy = false,
  ) {
    super();
    const table = DILATED_BRANCHES[kernelSize];
    if (!table) throw new Error(`DilatedReparamBlock: kernel_size ${kernelSize} has no branch table (supported: ${Object.keys(DILATED_BRANCHES).join(', ')})`);
    this.kernelSize = kernelSize;
    this.kernelSizes = table.kernels;
    this.dilates = table.dilations;
    this.lk_origin = this.add('lk_origin', new Conv2d(channels, channels, kernelSize, { padding: kernelSize >> 1, groups: channels, bias: deploy }));
    if (!deploy) {
      this.originBn = this.add('origin_bn', new BatchNorm2d(channels));
      this.kernelSizes.forEach((k, i) => {
        const r = this.dilates[i]!;
        const conv = this.add(`dil_conv_${branchName(k, r)}`, new Conv2d(channels, channels, k, { padding: (r * (k - 1) + 1) >> 1, dilation: r, groups: channels, bias: false }));
        const bn = this.add(`dil_bn_${branchName(k, r)}`, new BatchNorm2d(channels));
        this.branches.push({ conv, bn, r });
      });
    }
  }

  get deploy(): boolean {
    return this.originBn === null;
  }

  forward(x: Tensor): Tensor4D {
    if (!this.originBn) return this.lk_origin.forward(x);
    return tf.tidy(() => {
      let out = this.originBn!.forward(this.lk_origin.forward(x));
      for (const { conv, bn } of this.branches) out = tf.add(out, bn.forward(conv.forward(x)));
      return out as Tensor4D;
    });
  }

  /** Folds every BN into its conv and every dilated branch into the large kernel (official `merge_dilated_branches`). */
  reparameterize(): void {
    if (!this.originBn) return;
    const merged = new Conv2d(this.channels, this.channels, this.kernelSize, { padding: this.kernelSize >> 1, groups: this.channels, bias: true });
    tf.tidy(() => {
      const origin = foldBatchNorm(this.lk_origin, this.originBn!);
      let w = origin.weight;
      let b = origin.bias;
      for (const { conv, bn, r } of this.branches) {
        const f = foldBatchNorm(conv, bn);
        w = dilatedReparamMerge(w, f.weight, r);
        b = tf.add(b, f.bias);
      }
      merged.weight.assignTf(w);
      merged.bias!.assignTf(b);
    });
    const old: Module[] = [this.lk_origin, this.originBn];
    this.lk_origin = this.replaceChild('lk_origin', merged);
    this.removeMember('origin_bn');
    for (const { conv, bn } of this.branches) {
      const [k, r] = [conv.kernelSize[0], conv.dilation[0]];
      this.removeMember(`dil_conv_${branchName(k, r)}`);
      this.removeMember(`dil_bn_${branchName(k, r)}`);
      old.push(conv, bn);
    }
    for (const m of old) m.dispose();
    this.branches = [];
    this.originBn = null;
  }
}
