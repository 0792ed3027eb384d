import { it } from 'vitest';
import { Conv2d, Module } from '../../src/nn/index.js';
import { SyntheticShapesSegmentation, fit, tf } from '../../src/index.js';
import { getModelEntry } from '../../src/models/registry.js';
class M extends Module { c = this.add('c', new Conv2d(3, 5, 1)); forward(x: tf.Tensor) { return this.c.forward(x); } }
it('seg1', async () => {
  const m = new M(); m.initialize(0);
  (m as any).pretrainedCfg = { ...getModelEntry('bevanet_s_seg').pretrainedCfg, numClasses: 5, inputSize: [3, 64, 64], trainLoss: undefined };
  await fit(m as any, new SyntheticShapesSegmentation(192, 64, 0), { epochs: 3, batchSize: 8, lr: 3e-2, weightDecay: 0, augment: { scale: null }, evalData: new SyntheticShapesSegmentation(32, 64, 1),
    callbacks: { onEpoch: (e) => console.log(e.epoch, e.trainLoss.toFixed(3), (e.eval as any).mIoU.toFixed(3), JSON.stringify((e.eval as any).perClass.map((c: any) => c.iou?.toFixed(2)))) } });
}, 900_000);
