/** Large-kernel convnets: BEVANet-S segmentation at Cityscapes half resolution; UniRepLKNet-A train vs deploy form. */
import { type Backbone, createModel, reparameterize, tf } from '../src/index.js';
import type { BenchCase, BenchModule } from './types.js';

function forwardCase(name: string, build: () => Backbone, shape: [number, number, number, number]): BenchCase {
  return {
    name,
    setup: async () => {
      const m = build().eval();
      const x = tf.randomNormal([shape[0], shape[2], shape[3], shape[1]], 0, 1, 'float32', 1);
      return {
        run: async () => {
          const y = m.forward(x);
          await y.data();
          y.dispose();
        },
        dispose: () => {
          x.dispose();
          m.dispose();
        },
      };
    },
  };
}

const UNI_TRAIN = 'unireplknet_a train form 1x3x224x224';
const UNI_DEPLOY = 'unireplknet_a deploy form 1x3x224x224';

export const largeKernel: BenchModule = {
  benchmarks: [
    { ...forwardCase('bevanet_s_seg_deploy 1x3x512x1024', () => createModel('bevanet_s_seg_deploy'), [1, 3, 512, 1024]), iterations: 5 },
    forwardCase(UNI_TRAIN, () => createModel('unireplknet_a'), [1, 3, 224, 224]),
    // The same weights, fused by the generic structural re-parameterization.
    forwardCase(UNI_DEPLOY, () => reparameterize(createModel('unireplknet_a')), [1, 3, 224, 224]),
  ],
  ratios: [{ label: 'unireplknet_a deploy / train time (< 1: fusing pays)', numerator: UNI_DEPLOY, denominator: UNI_TRAIN }],
};
