// ViG / ViG-H beyond the fixtures: batch independence (the bidirectional scan batches both directions
// together), non-square inputs with position-embedding resize, features-only maps, odd sizes, and
// that every parameter receives a gradient.
import { describe, expect, it } from 'vitest';
import { createModel, tf, useBackend } from '../../src/index.js';
import { ViG } from '../../src/models/vig.js';
import { HierViG } from '../../src/models/vig_h.js';
import { maxAbs, maxAbsDiff } from '../kernels/gla_reference.js';

const tinyVig = () => new ViG({ embedDim: 32, depth: 2, numHeads: 2, imgSize: 64, numClasses: 10, useActInConv: true, useOutAct: true }).initialize(3).eval();
const tinyHier = () => new HierViG({ dims: 16, depths: [1, 2], numHeads: [2, 2], numClasses: 7 }).initialize(4).eval();

function batchIndependent(model: ViG | HierViG, shape: [number, number, number, number]): void {
  const x = tf.randomNormal(shape, 0, 1, 'float32', 9);
  const both = model.forward(x).dataSync();
  const n = both.length / shape[0];
  for (let i = 0; i < shape[0]; i++) {
    const one = model.forward(tf.slice(x, [i, 0, 0, 0], [1, -1, -1, -1])).dataSync();
    expect(maxAbsDiff(one, both.slice(i * n, (i + 1) * n))).toBeLessThan(1e-5 * Math.max(1, maxAbs(one)));
  }
}

describe('ViG', () => {
  it('batch 2 equals two batch-1 runs, on a non-square input that resizes pos_embed (80x48 -> 5x3 tokens)', () => {
    const m = tinyVig();
    batchIndependent(m, [2, 80, 48, 3]);
    expect(m.forward(tf.zeros([2, 80, 48, 3])).shape).toEqual([2, 10]);
  });

  it('pos_embed is used as stored on its own grid and bicubically resized elsewhere', () => {
    const m = tinyVig();
    expect(maxAbsDiff(m.positionEmbedding(4, 4).dataSync(), m.pos_embed.value.dataSync())).toBe(0);
    expect(m.positionEmbedding(5, 3).shape).toEqual([1, 15, 32]);
  });

  it('features-only maps per block (vig_t at 64x64: 4x4 tokens of 192 channels)', () => {
    const f = createModel('vig_t', { features: true, outIndices: [0, 11], seed: 1 });
    const outs = f.forward(tf.zeros([1, 64, 64, 3]));
    expect(outs.map((o) => o.shape)).toEqual([
      [1, 4, 4, 192],
      [1, 4, 4, 192],
    ]);
    expect(f.stateDictInfo().some((e) => e.key.startsWith('head.'))).toBe(false);
    f.dispose();
  });

  it('every parameter gets a finite, non-zero gradient (cpu)', async () => {
    const prev = tf.getBackend();
    await useBackend('cpu');
    try {
      const m = new ViG({ embedDim: 16, depth: 1, numHeads: 2, imgSize: 32, numClasses: 3 }).initialize(5).train();
      const x = tf.randomNormal([1, 48, 32, 3], 0, 1, 'float32', 6);
      const vars = m.parameters().map((p) => p.value);
      const { grads } = tf.variableGrads(() => tf.sum(tf.square(m.forward(x))) as tf.Scalar, vars);
      for (const [name, p] of m.namedParameters()) {
        const g = grads[p.value.name]!.dataSync();
        expect(g.every(Number.isFinite), name).toBe(true);
        expect(maxAbs(g), name).toBeGreaterThan(0);
      }
    } finally {
      await useBackend(prev);
    }
  });
});

describe('ViG-H', () => {
  it('batch 2 equals two batch-1 runs on an odd input (45x70)', () => {
    const m = tinyHier();
    batchIndependent(m, [2, 45, 70, 3]);
  });

  it('stage maps follow the stem and strided-conv sizes', () => {
    const m = tinyHier();
    const outs = m.forwardIntermediates(tf.zeros([1, 45, 70, 3]));
    // stem: 45 -> 23 -> 12, 70 -> 35 -> 18; downsample: 12 -> 6, 18 -> 9
    expect(outs.map((o) => o.shape)).toEqual([
      [1, 12, 18, 16],
      [1, 6, 9, 32],
    ]);
    expect(m.featureInfo.map((f) => [f.channels, f.reduction])).toEqual([
      [16, 4],
      [32, 8],
    ]);
  });

  it('vig_h_t features-only at 64x64', () => {
    const f = createModel('vig_h_t', { features: true, seed: 2 });
    expect(f.forward(tf.zeros([1, 64, 64, 3])).map((o) => o.shape)).toEqual([
      [1, 16, 16, 96],
      [1, 8, 8, 192],
      [1, 4, 4, 384],
      [1, 2, 2, 768],
    ]);
    expect(f.stateDictInfo().some((e) => e.key.startsWith('classifier.'))).toBe(false);
    f.dispose();
  });
});
