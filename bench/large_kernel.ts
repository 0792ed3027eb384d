/** Large-kernel convnets: BEVANet-S segmentation at Cityscapes half resolution; UniRepLKNet-A train vs deploy form. */
import { createModel, reparameterize } from '../src/index.js';
import type { BenchModule } from './types.js';
import { moduleForwardCase } from './forward.js';

const UNI_TRAIN = 'unireplknet_a train form 1x3x224x224';
const UNI_DEPLOY = 'unireplknet_a deploy form 1x3x224x224';

export const largeKernel: BenchModule = {
  benchmarks: [
    { ...moduleForwardCase('bevanet_s_seg_deploy 1x3x512x1024', () => createModel('bevanet_s_seg_deploy'), [1, 512, 1024, 3]), iterations: 5 },
    moduleForwardCase(UNI_TRAIN, () => createModel('unireplknet_a'), [1, 224, 224, 3]),
    // The same weights, fused by the generic structural re-parameterization.
    moduleForwardCase(UNI_DEPLOY, () => reparameterize(createModel('unireplknet_a')), [1, 224, 224, 3]),
  ],
  ratios: [{ label: 'unireplknet_a deploy / train time (< 1: fusing pays)', numerator: UNI_DEPLOY, denominator: UNI_TRAIN }],
};
