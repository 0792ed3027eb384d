// BEVANet's own loss (aux + OHEM main + boundary terms) through the trainer: a tiny segmenter learns the
// synthetic shapes segmentation task well above chance.
import { describe, expect, it } from 'vitest';
import { BEVANetSeg } from '../../src/models/bevanet.js';
import { getModelEntry } from '../../src/models/registry.js';
import { SyntheticShapesSegmentation, evaluate, fit, inputSpecFor } from '../../src/index.js';

describe('BEVANet training', () => {
  it('trains a tiny BEVANet on synthetic shapes until mIoU is well above chance', async () => {
    const model = new BEVANetSeg({ planes: 4, nBlocks: [1, 1, 2, 2, 2], ppmPlanes: 8, headPlanes: 16, numClasses: 5, segAugment: true });
    model.pretrainedCfg = { ...getModelEntry('bevanet_s_seg').pretrainedCfg, numClasses: 5, inputSize: [3, 64, 64] };
    model.initialize(3);
    expect(model.pretrainedCfg.trainLoss).toBe('bevanet');
    const spec = inputSpecFor(model.pretrainedCfg);
    const val = new SyntheticShapesSegmentation(32, 64, 1);
    const before = await evaluate(model, val, { spec, numClasses: 5 });
    const r = await fit(model, new SyntheticShapesSegmentation(192, 64, 0), { epochs: 4, batchSize: 8, lr: 4e-3, weightDecay: 0.01, augment: { scale: null }, evalData: val });
    const after = r.history.at(-1)!.eval!;
    expect(after.task).toBe('segmentation');
    if (after.task !== 'segmentation' || before.task !== 'segmentation') return;
    // All-background prediction scores about 0.15 mIoU here (5 classes, background ~75% of pixels).
    expect(after.mIoU).toBeGreaterThan(0.4);
    expect(after.mIoU).toBeGreaterThan(before.mIoU + 0.2);
  }, 600_000);
});
