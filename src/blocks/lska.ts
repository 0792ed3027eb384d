/**
 * Large Separable Kernel Attention (Lau, Po, Rehman, "LSKA", arXiv 2309.01439): VAN's LKA with each
 * square depthwise kernel split into a horizontal and a vertical strip. Plus BEVANet's variants
 * (Chen et al., "BEVANet", arXiv 2508.07300, Sec. 2.2): SDLSKA, whose dilated strips run in parallel
 * from one small square kernel, and CKS, which selects between the three branches channel- and
 * spatial-wise (after LSKNet's selective kernel).
 */
import { tf, type Tensor } from '../tf.js';
import { Module, Sequential, type Layer } from '../nn/module.js';
import { BatchNorm2d, Conv2d, ReLU } from '../nn/layers.js';
import { DWConv, PWConv } from './conv_mlp.js';
import { inferenceShortcut } from '../kernels/inference.js';
import { KERNEL_SELECTION, kernelSelection } from '../kernels/kernel_selection.js';

/**
 * Per nominal kernel size K: the small kernel k0, the dilated strip length k1 and its dilation d
 * (official LSKA / SDLSKA tables). The effective span is d(k1-1)+k0.
 */
export const LSKA_KERNELS: Readonly<Record<number, { k0: number; k1: number; d: number }>> = {
  7: { k0: 3, k1: 3, d: 2 },
  11: { k0: 3, k1: 5, d: 2 },
  23: { k0: 5, k1: 7, d: 3 },
  35: { k0: 5, k1: 11, d: 3 },
  41: { k0: 5, k1: 13, d: 3 },
  53: { k0: 5, k1: 17, d: 3 },
};

/** A depthwise strip (1 x k horizontal or k x 1 vertical) with "same" padding for dilation d. */
function strip(dim: number, k: number, d: number, axis: 'h' | 'v'): DWConv {
  const p = (d * (k - 1)) >> 1;
  return axis === 'h'
    ? new DWConv(dim, { kernelSize: [1, k], padding: [0, p], dilation: d })
    : new DWConv(dim, { kernelSize: [k, 1], padding: [p, 0], dilation: d });
}

export type LskaMode = 'a' | 'h' | 'v';

/**
 * The official `LSKA(dim, kernel_size, mode='a')`. Mode 'a' chains 1xk0 -> k0x1 -> dilated 1xk1 ->
 * dilated k1x1 -> 1x1 and gates the input; 'h' / 'v' keep one axis only.
 */
export class LSKA extends Module implements Layer {
  private readonly chain: DWConv[] = [];
  readonly pwconv: PWConv;

  constructor(
    dim: number,
    kernelSize: number,
    readonly mode: LskaMode = 'a',
  ) {
    super();
    const t = LSKA_KERNELS[kernelSize];
    if (!t) throw new Error(`LSKA: kernel_size ${kernelSize} is not one of ${Object.keys(LSKA_KERNELS).join(', ')}`);
    const add = (name: string, m: DWConv) => this.chain.push(this.add(name, m));
    if (mode !== 'v') add('DW_conv_h', strip(dim, t.k0, 1, 'h'));
    if (mode !== 'h') add('DW_conv_v', strip(dim, t.k0, 1, 'v'));
    if (mode !== 'v') add('DW_D_conv_h', strip(dim, t.k1, t.d, 'h'));
    if (mode !== 'h') add('DW_D_conv_v', strip(dim, t.k1, t.d, 'v'));
    this.pwconv = this.add('pwconv', new PWConv(dim));
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      let a = x;
      for (const c of this.chain) a = c.forward(a);
      return tf.mul(x, this.pwconv.forward(a));
    });
  }
}

/** PWConv -> DWConv 3x3 -> BN -> ReLU: CKS's squeeze / excitation MLPs (run on 1x1 maps). */
function cksMlp(inC: number, outC: number): Sequential {
  return new Sequential(new PWConv(inC, outC), new DWConv(outC), new BatchNorm2d(outC), new ReLU());
}

/**
 * Comprehensive Kernel Selection (`CKS(dim)`) over three branch maps a_s, a_h, a_v:
 * A = sum; channel weights c_b = sigmoid(expand_b(reduce(GAP(A)))) per branch; spatial weights
 * q = sigmoid(conv7x7([mean_c A, max_c A])) with one map per branch; out = sum_b a_b * c_b * q_b.
 */
export class CKS extends Module {
  readonly fc_reduce: Sequential;
  readonly fc_expand_small: Sequential;
  readonly fc_expand_big_h: Sequential;
  readonly fc_expand_big_v: Sequential;
  readonly conv_squeeze: Conv2d;

  constructor(dim: number) {
    super();
    const hidden = Math.max(Math.trunc(dim / 16), 32);
    this.fc_reduce = this.add('fc_reduce', cksMlp(dim, hidden));
    this.fc_expand_small = this.add('fc_expand_small', cksMlp(hidden, dim));
    this.fc_expand_big_h = this.add('fc_expand_big_h', cksMlp(hidden, dim));
    this.fc_expand_big_v = this.add('fc_expand_big_v', cksMlp(hidden, dim));
    this.conv_squeeze = this.add('conv_squeeze', new Conv2d(2, 3, 7, { padding: 3 }));
  }

  forward(small: Tensor, bigH: Tensor, bigV: Tensor): Tensor {
    return tf.tidy(() => {
      const a = tf.addN([small, bigH, bigV]);
      const z = this.fc_reduce.forward(tf.mean(a, [1, 2], true));
      const agg = tf.concat([tf.mean(a, -1, true), tf.max(a, -1, true)], -1);
      const q = this.conv_squeeze.forward(agg, 'sigmoid');
      const maps = [small, bigH, bigV];
      const logits = [this.fc_expand_small, this.fc_expand_big_h, this.fc_expand_big_v].map((mlp) => mlp.forward(z));
      if (inferenceShortcut(KERNEL_SELECTION) && [...maps, ...logits, q].every((t) => t.dtype === 'float32')) return kernelSelection(maps, logits, q);
      const qs = tf.split(q, 3, -1);
      return tf.addN(maps.map((x, b) => tf.mul(tf.mul(x, tf.sigmoid(logits[b]!)), qs[b]!)));
    });
  }
}

/**
 * Sparse Decomposed LSKA (`SDLSKA(dim, kernel_size)`): s = DW k0xk0 (x); h, v = dilated 1xk1 / k1x1 strips
 * of s in parallel; out = x * PW(CKS(s, h, v)). The official code builds strips for K in {7, 11, 23, 35}.
 */
export class SDLSKA extends Module implements Layer {
  readonly DW_conv: DWConv;
  readonly DW_D_conv_h: DWConv;
  readonly DW_D_conv_v: DWConv;
  readonly pwconv: PWConv;
  readonly FS_kernel: CKS;

  constructor(dim: number, kernelSize: number) {
    super();
    const t = [7, 11, 23, 35].includes(kernelSize) ? LSKA_KERNELS[kernelSize]! : null;
    if (!t) throw new Error(`SDLSKA: kernel_size ${kernelSize} is not one of 7, 11, 23, 35`);
    this.DW_conv = this.add('DW_conv', new DWConv(dim, { kernelSize: t.k0, padding: t.k0 >> 1 }));
    this.DW_D_conv_h = this.add('DW_D_conv_h', strip(dim, t.k1, t.d, 'h'));
    this.DW_D_conv_v = this.add('DW_D_conv_v', strip(dim, t.k1, t.d, 'v'));
    this.pwconv = this.add('pwconv', new PWConv(dim));
    this.FS_kernel = this.add('FS_kernel', new CKS(dim));
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const s = this.DW_conv.forward(x);
      const a = this.FS_kernel.forward(s, this.DW_D_conv_h.forward(s), this.DW_D_conv_v.forward(s));
      return tf.mul(x, this.pwconv.forward(a));
    });
  }
}
