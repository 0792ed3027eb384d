// A few optimizer steps on a fixed batch must lower the loss of every architecture of the family (tiny
// configurations), on wasm (the default CPU backend; its missing gradient kernels are registered by vizoo).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Backbone, tf, useBackend } from '../../src/index.js';
import { LITv2 } from '../../src/models/litv2.js';
import { SoftmaxFreeVisionTransformer } from '../../src/models/soft.js';
import { VisionTransformerKArAt } from '../../src/models/karat.js';

const TRAIN_BACKEND = 'wasm';
const SOFT_TINY = { embedDims: [8, 16, 16, 16], numHeads: [1, 2, 2, 2], depths: [1, 1, 1, 1], srRatios: [4, 2, 2, 1], qkvBias: true };

/** Cross-entropy on a fixed batch after each of `steps` Adam steps (index 0 = before training). */
function losses(model: Backbone, size: number, steps: number, frozen = '', lr = 2e-3): number[] {
  model.train();
  const classes = model.numClasses;
  const x = tf.randomNormal([2, size, size, 3], 0, 1, 'float32', 11);
  const y = tf.oneHot(tf.tensor1d([0, 2], 'int32'), classes);
  const vars = model
    .namedParameters()
    .filter(([k, p]) => p.trainable && !(frozen && k.startsWith(frozen)))
    .map(([, p]) => p.value);
  const opt = tf.train.adam(lr);
  const out: number[] = [];
  const lossFn = () => tf.losses.softmaxCrossEntropy(y, model.forward(x)) as tf.Scalar;
  let afterFirst = 0;
  for (let i = 0; i < steps; i++) {
    const l = opt.minimize(lossFn, true, vars)!;
    out.push(l.dataSync()[0]!);
    l.dispose();
    // The optimizer creates its slots in the first step; later steps must not accumulate tensors.
    if (i === 0) afterFirst = tf.memory().numTensors;
  }
  expect(tf.memory().numTensors).toBe(afterFirst);
  out.push(tf.tidy(() => lossFn().dataSync()[0]!));
  tf.dispose([x, y]);
  opt.dispose();
  return out;
}

describe(`training steps (${TRAIN_BACKEND} backend)`, () => {
  beforeAll(async () => {
    await useBackend(TRAIN_BACKEND);
  });
  afterAll(async () => {
    await useBackend('wasm');
  });

  // [name, model, input size, a parameter of the family's own op that must move, parameters kept frozen]
  const cases: [string, () => Backbone, number, string, string?][] = [
    [
      'LITv2 (ConvFFN, HiLo, DTM)',
      () => new LITv2({ embedDim: 8, depths: [1, 1, 1, 1], numHeads: [1, 1, 2, 2], alpha: 0.5, localWs: [0, 0, 2, 1], numClasses: 3 }).initialize(1),
      32,
      // Zero at init: it moves only if the deformable conv passes gradients to its offsets.
      'layers.0.downsample.dconv.conv_offset.weight',
    ],
    // Landmark ratios 4/2/2 so that the 8x8, 4x4, 2x2 maps of a 32px input keep several landmarks.
    ['SOFT', () => new SoftmaxFreeVisionTransformer({ ...SOFT_TINY, numClasses: 3 }).initialize(2), 32, 'block1.0.att.mha.attn.Qlandmark_op.weight'],
    ['SOFT-Norm', () => new SoftmaxFreeVisionTransformer({ ...SOFT_TINY, numClasses: 3, normalized: true }).initialize(3), 32, 'block2.0.att.mha.attn.Qlandmark_op.weight'],
    ['KArAt blockwise', () => new VisionTransformerKArAt({ imgSize: 16, patchSize: 8, embedDim: 12, depth: 2, numHeads: 2, rank: 3, gridSize: 2, numClasses: 3 }).initialize(4), 16, 'blocks.1.attn.karat.coeff'],
    [
      'KArAt universal + l1',
      () => new VisionTransformerKArAt({ imgSize: 16, patchSize: 8, embedDim: 12, depth: 2, numHeads: 2, rank: 3, gridSize: 2, numClasses: 3, mode: 'universal', l1Proj: true }).initialize(5),
      16,
      'karat_shared.proj_weight',
    ],
  ];
  for (const [name, build, size, moves, frozen] of cases) {
    it(`${name}: loss decreases`, () => {
      const m = build();
      const p = new Map(m.namedParameters()).get(moves)!;
      const start = p.value.clone();
      const l = losses(m, size, 4, frozen);
      expect(tf.max(tf.abs(tf.sub(p.value, start))).dataSync()[0]).toBeGreaterThan(0);
      start.dispose();
      expect(l.every(Number.isFinite)).toBe(true);
      expect(l[l.length - 1]!).toBeLessThan(l[0]! - 1e-3);
      m.dispose();
    });
  }
});
