// BEVANet's own loss (aux CE + OHEM main + boundary terms, TRAIN_LOSSES.bevanet) through the trainer: a
// tiny segmenter learns the synthetic shapes segmentation task well above chance.
import { describe, expect, it } from 'vitest';
import { BEVANetSeg } from '../../src/models/bevanet.js';
import { getModelEntry } from '../../src/models/registry.js';
import { SyntheticShapesSegmentation, evaluate, fit, inputSpecFor } from '../../src/index.js';

describe('BEVANet training', () => {
  it('trains a tiny BEVANet on synthetic shapes until mIoU is well above chance', async () => {
    const model = new BEVANetSeg({ planes: 16, nBlocks: [1, 1, 2, 2, 2], ppmPlanes: 8, headPlanes: 16, numClasses: 5, segAugment: true });
    model.pretrainedCfg = { ...getModelEntry('bevanet_s_seg').pretrainedCfg, numClasses: 5, inputSize: [3, 64, 64] };
    model.initialize(3);
    expect(model.pretrainedCfg.trainLoss).toBe('bevanet');
    const spec = inputSpecFor(model.pretrainedCfg);
    const val = new SyntheticShapesSegmentation(16, 64, 1);
    const before = await evaluate(model, val, { spec, numClasses: 5 });
    const good = (m: unknown) => (m as { mIoU: number }).mIoU > 0.45;
    const r = await fit(model, new SyntheticShapesSegmentation(64, 64, 0), {
      epochs: 30, batchSize: 8, lr: 3e-3, weightDecay: 0, schedule: 'constant', augment: { scale: null }, evalData: val, stopWhen: (e) => good(e.eval),
    });
    const after = r.history.at(-1)!.eval!;
    if (after.task !== 'segmentation' || before.task !== 'segmentation') throw new Error('expected segmentation metrics');
    // Predicting background everywhere scores about 0.17 mIoU here (5 classes, background ~80% of pixels).
    expect(after.mIoU).toBeGreaterThan(0.4);
    expect(after.mIoU).toBeGreaterThan(before.mIoU + 0.2);
    expect(after.perClass.filter((c) => c.class !== 'background' && (c.iou ?? 0) > 0.3).length).toBeGreaterThanOrEqual(2);
  }, 900_000);
});
