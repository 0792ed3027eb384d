import { it } from 'vitest';
import { BEVANetSeg } from '../../src/models/bevanet.js';
import { getModelEntry } from '../../src/models/registry.js';
import { SyntheticShapesSegmentation, fit } from '../../src/index.js';
it('bv', async () => {
  const planes = Number(process.env.P ?? 4);
  const model = new BEVANetSeg({ planes, nBlocks: [1, 1, 2, 2, 2], ppmPlanes: 8, headPlanes: 16, numClasses: 5, segAugment: process.env.AUG !== '0' });
  model.pretrainedCfg = { ...getModelEntry('bevanet_s_seg').pretrainedCfg, numClasses: 5, inputSize: [3, 64, 64] };
  model.initialize(3);
  const t = performance.now();
  await fit(model, new SyntheticShapesSegmentation(192, 64, 0), { epochs: Number(process.env.E ?? 6), batchSize: 8, lr: Number(process.env.LR ?? 4e-3), weightDecay: Number(process.env.WD ?? 0.01), optimizer: (process.env.OPT ?? 'adamw') as any, augment: { scale: null }, evalData: new SyntheticShapesSegmentation(32, 64, 1),
    callbacks: { onEpoch: (e) => console.log(e.epoch, e.trainLoss.toFixed(3), (e.eval as any).mIoU.toFixed(3), JSON.stringify((e.eval as any).perClass.map((c: any) => c.iou?.toFixed(2))), ((performance.now() - t) / 1000).toFixed(0)) } });
}, 900_000);
