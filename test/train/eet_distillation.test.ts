// EET's joint teacher/student objective wired into fit(). At random init the objective is not monotone at toy
// scale: near-tied token scores flip the pruning selection under tiny steps, and the cosine distillation
// gradient grows as 1/|hash| (EET starts from DeiT weights with 500 warmup steps). So the test checks the
// wiring exactly (the loss is the sum of the official terms) and that fit() trains both networks.
import { describe, expect, it } from 'vitest';
import { tf } from '../../src/tf.js';
import { fit, imagenetConfig, inputSpecFor, SyntheticShapes } from '../../src/index.js';
import { EETViT } from '../../src/models/eet.js';
import { crossEntropy } from '../../src/train/losses.js';
import { hashDistillLoss, mseLoss, regionMask } from '../../src/train/hashing_losses.js';
import { EETDistillation, eetClassCodes } from '../../src/train/eet_distillation.js';

function build(classes: number) {
  const cfg = { imgSize: 32, patchSize: 8, embedDim: 16, depth: 3, numHeads: 2, numClasses: classes, hashBits: 4 };
  const student = new EETViT({ ...cfg, pruning: { after: [0, 1], keep: [10, 6] } });
  const teacher = new EETViT(cfg);
  student.pretrainedCfg = imagenetConfig({ cropPct: 1, interpolation: 'bilinear', notes: 'test', inputSize: [3, 32, 32], numClasses: classes });
  return { student, teacher };
}

describe('EETDistillation', () => {
  it("computes train_model.py's student + teacher loss with teacher-guided masking", () => {
    const { student, teacher } = build(4);
    const codes = eetClassCodes([0, 1, 2, 3, 0, 1, 2, 3], 4, 4, { seed: 2 });
    const m = new EETDistillation(student, teacher, codes, { maskPatches: 3 }).initialize(7);
    tf.tidy(() => {
      const x = tf.randomNormal([4, 32, 32, 3], 0, 1, 'float32', 3);
      const y = tf.tensor1d([2, 0, 3, 1], 'int32');
      const got = m.loss(m.forwardTrain(x), { x: x as tf.Tensor4D, y }).dataSync()[0]!;
      const b = tf.gather(tf.tensor2d(codes, [4, 4]), y);
      const t = teacher.forwardAll(x);
      const s = student.forwardAll(x);
      const masked = student.forwardAll(tf.mul(x, regionMask(t.lastScore, 32, 8, { count: 3 }))).logits;
      const v = (a: tf.Tensor) => a.dataSync()[0]!;
      const want =
        0.1 * (v(crossEntropy(s.logits, y)) + v(crossEntropy(masked, y))) + v(mseLoss(s.hash, b)) + v(hashDistillLoss(s.hash, t.hash)) + v(crossEntropy(t.logits, y)) + v(mseLoss(t.hash, b));
      expect(got).toBeCloseTo(want, 5);
    });
    m.dispose();
  });

  it('trains student and teacher together under fit()', async () => {
    const data = new SyntheticShapes(32, 32, 0);
    const classes = data.classes.length;
    const { student, teacher } = build(classes);
    const labels = Array.from({ length: data.length }, (_, i) => data.label(i));
    const codes = eetClassCodes(labels, classes, 4, { seed: 2 });
    expect(new Set(Array.from({ length: classes }, (_, c) => codes.subarray(c * 4, c * 4 + 4).join())).size).toBe(classes);
    const model = new EETDistillation(student, teacher, codes).initialize(1);
    const watched = () => [student.head.weight, student.blocks.items[0]!.attn.qkv.weight, teacher.head.weight, teacher.patchEmbed.proj.weight];
    const before = watched().map((p) => p.value.dataSync().slice());
    const losses: number[] = [];
    await fit(model, data, {
      epochs: 2, batchSize: 16, spec: inputSpecFor(student.pretrainedCfg), numClasses: classes, lr: 0.003, optimizer: 'sgd', weightDecay: 0,
      loss: model.loss, augment: { scale: null, hflip: 0 }, callbacks: { onStep: (s) => losses.push(s.loss) },
    });
    expect(losses).toHaveLength(4);
    expect(losses.every(Number.isFinite)).toBe(true);
    watched().forEach((p, i) => {
      const a = p.value.dataSync();
      expect(Math.max(...Array.from(a, (v, j) => Math.abs(v - before[i]![j]!))), `parameter ${i}`).toBeGreaterThan(0);
    });
    // Inference is the student's.
    expect(tf.tidy(() => model.forward(tf.zeros([2, 32, 32, 3])).shape)).toEqual([2, classes]);
    model.dispose();
  });
});
