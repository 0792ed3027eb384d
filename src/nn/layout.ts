/**
 * Parameter layouts: how a PyTorch-layout tensor maps to the tfjs layout vizoo computes with.
 * Conversion happens once, at load and at save (docs/architecture.md#layouts-change-only-at-the-edges).
 */
import { tf, type Tensor } from '../tf.js';

export interface ParamLayout {
  readonly name: string;
  /** The tfjs shape of a parameter whose PyTorch shape is `torchShape`. */
  tfShape(torchShape: readonly number[]): number[];
  toTf(t: Tensor): Tensor;
  toTorch(t: Tensor): Tensor;
}

/** Same layout on both sides (biases, norms, layer scales, embeddings). */
export const PLAIN: ParamLayout = {
  name: 'plain',
  tfShape: (s) => [...s],
  toTf: (t) => t.clone(),
  toTorch: (t) => t.clone(),
};

/** Conv weight OIHW (out, in/groups, kh, kw) <-> HWIO (kh, kw, in/groups, out). */
export const CONV_OIHW: ParamLayout = {
  name: 'conv',
  tfShape: ([o, i, h, w]) => [h!, w!, i!, o!],
  toTf: (t) => tf.transpose(t, [2, 3, 1, 0]),
  toTorch: (t) => tf.transpose(t, [3, 2, 0, 1]),
};

/**
 * Depthwise weight (C*m, 1, kh, kw) <-> tfjs depthwise filter (kh, kw, C, m); output channel c*m+j
 * is the j-th multiplier of input channel c on both sides.
 */
export function depthwiseLayout(channels: number): ParamLayout {
  return {
    name: 'depthwise',
    tfShape: ([o, , h, w]) => [h!, w!, channels, o! / channels],
    toTf: (t) => {
      const [o, , h, w] = t.shape as number[];
      return tf.transpose(tf.reshape(t, [channels, o! / channels, h!, w!]), [2, 3, 0, 1]);
    },
    toTorch: (t) => {
      const [h, w, c, m] = t.shape as number[];
      return tf.reshape(tf.transpose(t, [2, 3, 0, 1]), [c! * m!, 1, h!, w!]);
    },
  };
}

/** Linear weight (out, in) <-> (in, out), so y = x @ W + b. */
export const LINEAR: ParamLayout = {
  name: 'linear',
  tfShape: ([o, i]) => [i!, o!],
  toTf: (t) => tf.transpose(t),
  toTorch: (t) => tf.transpose(t),
};
