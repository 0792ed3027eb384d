// EET's training objective: target codes, losses and the region mask.
import { describe, expect, it } from 'vitest';
import { tf } from '../../src/tf.js';
import { Rng } from '../../src/nn/rng.js';
import { crossEntropy, softTargetCrossEntropy } from '../../src/train/losses.js';
import {
  eetStudentLoss,
  eetTeacherLoss,
  hashDistillLoss,
  mseLoss,
  pinvSymmetric,
  polarFactor,
  regionMask,
  symmetricEigen,
  trainCodes,
} from '../../src/train/hashing_losses.js';

const randMat = (rng: Rng, rows: number, cols: number) => ({ rows, cols, data: Float64Array.from({ length: rows * cols }, () => rng.normal()) });

function mul(a: { rows: number; cols: number; data: Float64Array }, b: { rows: number; cols: number; data: Float64Array }) {
  const out = new Float64Array(a.rows * b.cols);
  for (let i = 0; i < a.rows; i++) for (let k = 0; k < a.cols; k++) for (let j = 0; j < b.cols; j++) out[i * b.cols + j]! += a.data[i * a.cols + k]! * b.data[k * b.cols + j]!;
  return { rows: a.rows, cols: b.cols, data: out };
}

describe('code generation linear algebra', () => {
  it('eigen-decomposes symmetric matrices, inverts them and finds the orthogonal polar factor', () => {
    const rng = new Rng(1);
    const m = randMat(rng, 6, 6);
    const sym = { rows: 6, cols: 6, data: Float64Array.from({ length: 36 }, (_, i) => m.data[i]! + m.data[(i % 6) * 6 + Math.floor(i / 6)]!) };
    const { values, vectors } = symmetricEigen(sym);
    // A q_j = w_j q_j
    for (let j = 0; j < 6; j++) {
      for (let i = 0; i < 6; i++) {
        let av = 0;
        for (let k = 0; k < 6; k++) av += sym.data[i * 6 + k]! * vectors.data[k * 6 + j]!;
        expect(av).toBeCloseTo(values[j]! * vectors.data[i * 6 + j]!, 8);
      }
    }
    const inv = mul(sym, pinvSymmetric(sym));
    for (let i = 0; i < 6; i++) for (let j = 0; j < 6; j++) expect(inv.data[i * 6 + j]!).toBeCloseTo(i === j ? 1 : 0, 8);
    const r = polarFactor(m);
    const rtr = mul({ rows: 6, cols: 6, data: Float64Array.from({ length: 36 }, (_, i) => r.data[(i % 6) * 6 + Math.floor(i / 6)]!) }, r);
    for (let i = 0; i < 6; i++) for (let j = 0; j < 6; j++) expect(rtr.data[i * 6 + j]!).toBeCloseTo(i === j ? 1 : 0, 8);
  });

  // With at least as many classes as bits (EET: 200 classes, 16-64 bits) the label term dominates and every
  // sample of a class gets its class's code; with fewer classes the delta-regularized null space keeps
  // per-sample randomness, as in the official procedure.
  it('gives ±1 codes that are shared within a class and differ between classes', () => {
    const classes = 24;
    const bits = 12;
    const labels = Array.from({ length: 96 }, (_, i) => i % classes);
    const codes = trainCodes(labels, classes, bits, { seed: 3 });
    expect(codes.length).toBe(96 * bits);
    expect(Array.from(codes).every((v) => v === 1 || v === -1)).toBe(true);
    const code = (i: number) => Array.from(codes.subarray(i * bits, (i + 1) * bits)).join(',');
    for (let i = classes; i < 96; i++) expect(code(i)).toBe(code(i % classes));
    expect(new Set(Array.from({ length: classes }, (_, c) => code(c))).size).toBe(classes);
    expect(() => trainCodes([0, 7], 5, 8)).toThrow(/not a class index/);
  });
});

describe('EET losses', () => {
  it('takes class indices or one-hot labels (EET feeds one-hot targets to nn.CrossEntropyLoss)', () => {
    tf.tidy(() => {
      const logits = tf.tensor2d([[1, 2, 3], [0, 0, 1]]);
      const hash = tf.tensor2d([[0.5, -0.5], [1, 1]]);
      const codes = tf.tensor2d([[1, -1], [1, 1]]);
      const byIndex = eetTeacherLoss({ logits, hash }, tf.tensor1d([2, 0], 'int32'), codes).dataSync()[0]!;
      const byOneHot = eetTeacherLoss({ logits, hash }, tf.tensor2d([[0, 0, 1], [1, 0, 0]]), codes).dataSync()[0]!;
      const want = -(Math.log(Math.exp(3) / (Math.exp(1) + Math.exp(2) + Math.exp(3))) + Math.log(1 / (2 + Math.E))) / 2 + (0.25 + 0.25 + 0 + 0) / 4;
      expect(byIndex).toBeCloseTo(want, 5);
      expect(byOneHot).toBeCloseTo(want, 5);
      expect(softTargetCrossEntropy(logits, tf.tensor2d([[0, 0, 1], [1, 0, 0]])).dataSync()[0]).toBeCloseTo(crossEntropy(logits, tf.tensor1d([2, 0], 'int32')).dataSync()[0]!, 6);
    });
  });

  it('hash distillation is 1 - cosine and sends no gradient to the teacher', () => {
    tf.tidy(() => {
      const s = tf.tensor2d([[1, 0], [1, 1]]);
      const t = tf.tensor2d([[2, 0], [-1, 1]]);
      expect(hashDistillLoss(s, t).dataSync()[0]).toBeCloseTo((0 + 1) / 2, 6);
      const [ds, dt] = tf.grads((a: tf.Tensor, b: tf.Tensor) => hashDistillLoss(a, b))([s, t]);
      expect(Array.from(dt!.dataSync())).toEqual([0, 0, 0, 0]);
      expect(Math.max(...Array.from(ds!.dataSync(), Math.abs))).toBeGreaterThan(0);
    });
  });

  it('combines the terms of train_model.py', () => {
    tf.tidy(() => {
      const logits = tf.tensor2d([[1, -1], [0.5, 2]]);
      const masked = tf.tensor2d([[0, 1], [1, 1]]);
      const hash = tf.tensor2d([[0.3, -0.2], [0.1, 0.9]]);
      const teacherHash = tf.tensor2d([[0.5, 0.5], [-1, 1]]);
      const y = tf.tensor1d([0, 1], 'int32');
      const codes = tf.tensor2d([[1, -1], [-1, 1]]);
      const teacher = eetTeacherLoss({ logits, hash }, y, codes).dataSync()[0]!;
      expect(teacher).toBeCloseTo(crossEntropy(logits, y).dataSync()[0]! + mseLoss(hash, codes).dataSync()[0]!, 6);
      const student = eetStudentLoss({ logits, hash }, masked, teacherHash, y, codes).dataSync()[0]!;
      const want = 0.1 * (crossEntropy(logits, y).dataSync()[0]! + crossEntropy(masked, y).dataSync()[0]!) + mseLoss(hash, codes).dataSync()[0]! + hashDistillLoss(hash, teacherHash).dataSync()[0]!;
      expect(student).toBeCloseTo(want, 6);
    });
  });

  it('masks the top-w teacher patches, transposed on the grid as the official code does', () => {
    tf.tidy(() => {
      // 3x3 grid of 2-px patches; the best patch is index 1 = (row 0, col 1).
      const score = tf.tensor2d([[0, 9, 0, 0, 0, 0, 0, 0, 0]]);
      const official = tf.squeeze(regionMask(score, 6, 2, { count: 1 })).arraySync() as number[][];
      const direct = tf.squeeze(regionMask(score, 6, 2, { count: 1, transposed: false })).arraySync() as number[][];
      // direct: rows 0-1, cols 2-3 zeroed; official quirk: rows 2-3, cols 0-1.
      expect(direct[0]!.slice(0, 6)).toEqual([1, 1, 0, 0, 1, 1]);
      expect(direct[2]!.slice(0, 6)).toEqual([1, 1, 1, 1, 1, 1]);
      expect(official[0]!.slice(0, 6)).toEqual([1, 1, 1, 1, 1, 1]);
      expect(official[2]!.slice(0, 6)).toEqual([0, 0, 1, 1, 1, 1]);
      expect(official.flat().filter((v) => v === 0).length).toBe(4);
    });
  });

  it('masks on a non-square grid: [H, W] image, patch column on rows when transposed, clipped to the image', () => {
    tf.tidy(() => {
      // 2x3 grid of 2-px patches in a 5x6 image (a 1-px strip below the grid); best patch (row 1, col 2).
      const score = tf.tensor2d([[0, 0, 0, 0, 0, 9]]);
      const direct = tf.squeeze(regionMask(score, [5, 6], 2, { count: 1, transposed: false })).arraySync() as number[][];
      const official = tf.squeeze(regionMask(score, [5, 6], 2, { count: 1 })).arraySync() as number[][];
      expect(direct.map((r) => r.join(''))).toEqual(['111111', '111111', '111100', '111100', '111111']);
      // Transposed: rows [4, 6) clipped to row 4, columns [2, 4).
      expect(official.map((r) => r.join(''))).toEqual(['111111', '111111', '111111', '111111', '110011']);
      expect(() => regionMask(tf.zeros([1, 6]), [6, 6], 2)).toThrow(/6 scores do not form the 3x3 patch grid of a 6x6 image/);
    });
  });
});
