// BEVANet's segmentation loss terms on small hand-checkable inputs, and gradients (cpu backend).
import { beforeAll, describe, expect, it } from 'vitest';
import { bevanetLoss, crossEntropyIgnore, labelBoundaries, ohemCrossEntropy, tf, useBackend, weightedBoundaryBce } from '../../src/index.js';

const LN = Math.log;
/** Two-class logits (1, 1, n, 2) whose class-0 probability is p: logits [log p, log(1 - p)]. */
const twoClass = (ps: number[]) => tf.tensor4d(ps.flatMap((p) => [LN(p), LN(1 - p)]), [1, 1, ps.length, 2]);
const labels = (ls: number[]) => tf.tensor3d(ls, [1, 1, ls.length], 'int32');
const value = async (t: tf.Tensor) => (await t.data())[0]!;

describe('crossEntropyIgnore', () => {
  it('averages -log p(label) over the pixels that are not ignored', async () => {
    const logits = tf.tensor4d([0, 0, LN(3), 0, 5, -5], [1, 1, 3, 2]);
    const want = (LN(2) + LN(4 / 3)) / 2;
    expect(await value(crossEntropyIgnore(logits, labels([0, 0, 255]), 255))).toBeCloseTo(want, 6);
    expect(await value(crossEntropyIgnore(logits, labels([255, 255, 255]), 255))).toBe(0);
  });
});

describe('ohemCrossEntropy', () => {
  let logits: tf.Tensor4D;
  let lab: tf.Tensor3D;
  beforeAll(() => {
    logits = twoClass([0.2, 0.5, 0.8, 0.95]);
    lab = labels([0, 0, 0, 0]);
  });
  it('keeps the pixels below max(p[minKept], thresh)', async () => {
    // sorted p = .2 .5 .8 .95; minKept 1 -> p[1] = .5 < .7 -> threshold .7 -> keeps .2 and .5
    expect(await value(ohemCrossEntropy(logits, lab, { thresh: 0.7, minKept: 1 }))).toBeCloseTo(-(LN(0.2) + LN(0.5)) / 2, 5);
    // minKept 3 -> threshold p[3] = .95 -> keeps .2 .5 .8 (strictly below)
    expect(await value(ohemCrossEntropy(logits, lab, { thresh: 0.7, minKept: 3 }))).toBeCloseTo(-(LN(0.2) + LN(0.5) + LN(0.8)) / 3, 5);
  });
  it('ignores labels (they never count towards minKept) and gives 0 when all are ignored', async () => {
    // valid p = .5 .95; minKept 5 -> index min(5, 1) = 1 -> threshold .95 -> keeps .5
    expect(await value(ohemCrossEntropy(logits, labels([255, 0, 255, 0]), { thresh: 0.7, minKept: 5 }))).toBeCloseTo(-LN(0.5), 5);
    expect(await value(ohemCrossEntropy(logits, labels([255, 255, 255, 255]), { thresh: 0.7, minKept: 1 }))).toBe(0);
  });
});

describe('weightedBoundaryBce', () => {
  it('weights positives by the negative share and negatives by the positive share', async () => {
    const x = tf.tensor4d([0, 0, 0, 0], [1, 1, 4, 1]);
    const t = tf.tensor3d([1, 0, 0, 0], [1, 1, 4]);
    // every BCE is ln 2; weights 3/4 (one positive) and 1/4 (three negatives); mean over 4 pixels
    expect(await value(weightedBoundaryBce(x, t))).toBeCloseTo((0.75 * LN(2) + 3 * 0.25 * LN(2)) / 4, 6);
    const y = tf.tensor4d([2, -1, 0.5, 3], [1, 1, 4, 1]);
    const bce = (v: number, tt: number) => Math.max(v, 0) - v * tt + Math.log1p(Math.exp(-Math.abs(v)));
    expect(await value(weightedBoundaryBce(y, t))).toBeCloseTo((0.75 * bce(2, 1) + 0.25 * (bce(-1, 0) + bce(0.5, 0) + bce(3, 0))) / 4, 6);
  });
});

describe('bevanetLoss', () => {
  it('= 0.4 CE(aux) + OHEM(main) + 20 wBCE(boundary) + OHEM(main on boundary pixels)', async () => {
    const main = twoClass([0.2, 0.5, 0.8, 0.95]);
    const aux = twoClass([0.6, 0.6, 0.6, 0.6]);
    const boundary = tf.tensor4d([3, -3, 3, -3], [1, 1, 4, 1]); // sigmoid(3) = .95 > .8 on pixels 0 and 2
    const gt = tf.tensor3d([1, 0, 1, 0], [1, 1, 4]);
    const lab = labels([0, 0, 0, 255]);
    const t = bevanetLoss({ aux, main, boundary }, lab, gt, { ohem: { thresh: 0.7, minKept: 1 } });
    const ce = -LN(0.6);
    const ohemMain = -(LN(0.2) + LN(0.5)) / 2; // valid .2 .5 .8 -> threshold max(.5, .7)
    const ohemEdge = -LN(0.2); // pixels 0 (.2) and 2 (.8) -> threshold max(.8, .7) = .8 -> keeps .2
    const bce = 20 * ((0.5 * Math.log1p(Math.exp(-3))) * 4) / 4;
    expect(await value(t.semantic)).toBeCloseTo(0.4 * ce + ohemMain, 5);
    expect(await value(t.boundary)).toBeCloseTo(bce, 5);
    expect(await value(t.semanticBoundary)).toBeCloseTo(ohemEdge, 5);
    expect(await value(t.loss)).toBeCloseTo(0.4 * ce + ohemMain + bce + ohemEdge, 5);
  });

  it('upsamples 1/8 outputs to the label size (align_corners) before the terms', async () => {
    const main = tf.randomNormal([1, 2, 3, 4], 0, 1, 'float32', 1);
    const aux = tf.randomNormal([1, 2, 3, 4], 0, 1, 'float32', 2);
    const boundary = tf.randomNormal([1, 2, 3, 1], 0, 1, 'float32', 3);
    const lab = tf.tensor3d(Array.from({ length: 16 * 24 }, (_, i) => i % 4), [1, 16, 24], 'int32');
    const t = bevanetLoss({ aux, main, boundary }, lab, labelBoundaries(lab), { ohem: false });
    const up = (x: tf.Tensor) => tf.image.resizeBilinear(x as tf.Tensor4D, [16, 24], true);
    expect(await value(t.semantic)).toBeCloseTo(0.4 * (await value(crossEntropyIgnore(up(aux), lab))) + (await value(crossEntropyIgnore(up(main), lab))), 5);
  });
});

describe('labelBoundaries', () => {
  it('marks pixels within the radius of a label change', async () => {
    const lab = tf.tensor3d([0, 0, 0, 0, 1, 1, 1, 1], [1, 1, 8], 'int32');
    expect(Array.from(await labelBoundaries(lab, 1).data())).toEqual([0, 0, 0, 1, 1, 0, 0, 0]);
  });
});

describe('gradients (cpu backend)', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });
  it('flow from the loss into all three output maps', async () => {
    const v = (seed: number, c: number) => tf.variable(tf.randomNormal([1, 2, 2, c], 0, 1, 'float32', seed));
    const [aux, main, boundary] = [v(1, 3), v(2, 3), v(3, 1)];
    // Three bands of classes 16 pixels wide (boundary bands between them) and one ignored pixel.
    const lab = tf.tensor3d(Array.from({ length: 16 * 48 }, (_, i) => (i === 100 ? 255 : Math.floor((i % 48) / 16))), [1, 16, 48], 'int32');
    const gt = labelBoundaries(lab);
    const edges = Array.from(await gt.data()).reduce((a, v) => a + v, 0);
    expect(edges).toBeGreaterThan(0);
    expect(edges).toBeLessThan(16 * 48);
    const { grads, value: loss } = tf.variableGrads(() => bevanetLoss({ aux, main, boundary }, lab, gt, { ohem: { thresh: 0.9, minKept: 8 } }).loss as tf.Scalar, [aux, main, boundary]);
    expect(Number.isFinite(await value(loss))).toBe(true);
    for (const g of Object.values(grads)) {
      const d = (await g.data()) as Float32Array;
      expect(d.every(Number.isFinite)).toBe(true);
      expect(d.some((x) => x !== 0)).toBe(true);
    }
  });
});
