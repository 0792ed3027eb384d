// Whole models at shapes the official classification code does not accept (non-square, odd sizes, other
// resolutions than the position-embedding grid), their feature maps, and the registry entries.
import { describe, expect, it } from 'vitest';
import { createModel, tf } from '../../src/index.js';
import { LITv2 } from '../../src/models/litv2.js';
import { SoftmaxFreeVisionTransformer } from '../../src/models/soft.js';

describe('LITv2', () => {
  it('runs non-square inputs with padded HiLo windows and floored DTM merges', () => {
    const m = new LITv2({ embedDim: 8, depths: [1, 1, 2, 1], numHeads: [1, 2, 2, 4], alpha: 0.5, localWs: [0, 0, 2, 1], numClasses: 5 }).initialize(0).eval();
    // 76x44 -> 19x11 -> 9x5 -> 4x2 -> 2x1
    const x = tf.randomNormal([2, 76, 44, 3], 0, 1, 'float32', 1);
    const feats = m.forwardIntermediates(x);
    expect(feats.map((f) => f.shape)).toEqual([
      [2, 19, 11, 8],
      [2, 9, 5, 16],
      [2, 4, 2, 32],
      [2, 2, 1, 64],
    ]);
    expect(m.forward(x).shape).toEqual([2, 5]);
    // Batch items are independent (no cross-batch state in eval).
    const one = m.forward(tf.slice(x, [1, 0, 0, 0], [1, -1, -1, -1]));
    expect(tf.max(tf.abs(tf.sub(one, tf.slice(m.forward(x), [1, 0], [1, -1])))).dataSync()[0]).toBeLessThan(1e-5);
  });

  it('features-only model of a registered variant keeps the official keys without the head', () => {
    const f = createModel('litv2_s', { features: true, init: false });
    const keys = f.stateDictInfo().map((e) => e.key);
    expect(keys).not.toContain('head.weight');
    expect(keys).toContain('norm.weight');
    expect(f.featureInfo.map((i) => [i.channels, i.reduction])).toEqual([
      [96, 4],
      [192, 8],
      [384, 16],
      [768, 32],
    ]);
  });
});

describe('SOFT', () => {
  it('resizes the 56/28/14/7 position grids to other input sizes', () => {
    const m = new SoftmaxFreeVisionTransformer({ embedDims: [8, 16, 16, 16], numHeads: [1, 2, 2, 2], depths: [1, 1, 1, 1], qkvBias: true, numClasses: 4 }).initialize(0).eval();
    expect(m.stateDictInfo().slice(0, 4).map((e) => e.shape)).toEqual([
      [1, 3136, 8],
      [1, 784, 16],
      [1, 196, 16],
      [1, 50, 16],
    ]);
    // 72x66 -> 18x17 (ceil), 9x9, 5x5, 3x3; landmark grids 2x2, 2x2, 2x2.
    const x = tf.randomNormal([1, 72, 66, 3], 0, 1, 'float32', 2);
    expect(m.forwardIntermediates(x).map((f) => f.shape)).toEqual([
      [1, 18, 17, 8],
      [1, 9, 9, 16],
      [1, 5, 5, 16],
      [1, 3, 3, 16],
    ]);
    const y = m.forward(x);
    expect(y.shape).toEqual([1, 4]);
    expect(Number.isFinite(y.dataSync()[0])).toBe(true);
  });

  it('SOFT-Norm variants keep PyTorch default init in stages 1-3 (set before the blocks are replaced)', () => {
    const plain = createModel('soft_tiny', { seed: 1 });
    const norm = createModel('soft_norm_tiny', { seed: 1 });
    const std = (m: typeof plain, k: string) => tf.sqrt(tf.moments(new Map(m.namedParameters()).get(k)!.value).variance).dataSync()[0]!;
    expect(std(plain, 'block1.0.att.ff1.weight')).toBeCloseTo(0.02, 2);
    // kaiming_uniform(a=sqrt 5) on fan_in 64: U(+-1/8), std 1/(8 sqrt 3) = 0.072.
    expect(std(norm, 'block1.0.att.ff1.weight')).toBeCloseTo(0.072, 2);
    expect(std(norm, 'block4.0.mlp.fc1.weight')).toBeCloseTo(0.02, 2);
    plain.dispose();
    norm.dispose();
  });
});
