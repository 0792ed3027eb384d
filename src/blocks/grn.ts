/**
 * Global Response Normalization (Woo et al., "ConvNeXt V2", arXiv 2301.00808, Eq. 1-3) on NHWC maps, as
 * UniRepLKNet's `GRNwithNHWC`: G = ||x||_2 over H, W per channel; N = G / (mean_c G + 1e-6);
 * y = (gamma * N + 1) * x + beta. The deploy form drops beta (pushed into the next Linear).
 */
import { tf, type Tensor } from '../tf.js';
import { Module, type Layer, type Parameter } from '../nn/module.js';
import { zeros } from '../nn/init.js';
import { inferenceShortcut } from '../kernels/inference.js';
import { GRN_KERNEL, grnFused } from '../kernels/grn.js';

export class GRN extends Module implements Layer {
  readonly gamma: Parameter;
  beta: Parameter | null;

  constructor(
    readonly dim: number,
    useBias = true,
  ) {
    super();
    this.gamma = this.param('gamma', [1, 1, 1, dim], zeros);
    this.beta = useBias ? this.param('beta', [1, 1, 1, dim], zeros) : null;
  }

  forward(x: Tensor): Tensor {
    if (x.rank === 4 && inferenceShortcut(GRN_KERNEL)) return grnFused(x, this.gamma.value, this.beta?.value ?? null);
    return tf.tidy(() => {
      const g = tf.sqrt(tf.sum(tf.square(x), [1, 2], true));
      const n = tf.div(g, tf.add(tf.mean(g, -1, true), 1e-6));
      const y = tf.mul(tf.add(tf.mul(this.gamma.value, n), 1), x);
      return this.beta ? tf.add(y, this.beta.value) : y;
    });
  }

  /** Unregisters beta and returns it: the caller folds it into the following layer, then disposes it. */
  dropBias(): Parameter | null {
    const b = this.beta;
    if (b) this.removeMember('beta');
    this.beta = null;
    return b;
  }
}
