import { describe, expect, it } from 'vitest';
import { tf } from '../../src/tf.js';
import { Linear, Module, Rng } from '../../src/nn/index.js';
import { AdamW, SGD, clipGradNorm } from '../../src/train/optim.js';
import { learningRate } from '../../src/train/schedule.js';
import { crossEntropy, pixelCrossEntropy, smoothOneHot } from '../../src/train/losses.js';
import { mixBatch, sampleBeta } from '../../src/train/mixup.js';
import { buildParamGroups, freezeParameters, layerIds } from '../../src/train/param_groups.js';
import { ClassificationMeter, SegmentationMeter } from '../../src/train/metrics.js';
import { ModelEma } from '../../src/train/ema.js';
import { createModel } from '../../src/models/index.js';

class One extends Module {
  readonly w = this.param('w', [2], () => Float32Array.from([1, -2]));
  readonly b = this.param('b', [2, 1], () => Float32Array.from([0.5, 0.5]));
}

const vals = async (t: tf.Tensor) => Array.from((await t.data()) as Float32Array);

describe('optimizers', () => {
  it('AdamW matches the PyTorch update with decoupled weight decay', async () => {
    const m = new One();
    const opt = new AdamW([{ params: [{ key: 'b', param: m.b }], weightDecay: 0.1, lrScale: 1 }], [0.9, 0.999], 1e-8);
    const g = tf.tensor2d([[0.2], [-0.4]]);
    opt.step(new Map([['b', g]]), 0.01);
    // step 1: p = p(1 - lr wd) - lr * mhat / (sqrt(vhat) + eps), mhat = g, vhat = g^2 -> p - lr * sign(g)
    const [a, b] = await vals(m.b.value);
    expect(a).toBeCloseTo(0.5 * (1 - 0.001) - 0.01, 6);
    expect(b).toBeCloseTo(0.5 * (1 - 0.001) + 0.01, 6);
    opt.step(new Map([['b', g]]), 0.01);
    // step 2 with the same gradient: mhat = g, vhat = g^2 again -> another -lr*sign(g)
    expect((await vals(m.b.value))[0]).toBeCloseTo((0.5 * 0.999 - 0.01) * 0.999 - 0.01, 5);
  });

  it('SGD momentum follows PyTorch (first step buf = grad), nesterov too', async () => {
    for (const nesterov of [false, true]) {
      const m = new One();
      const opt = new SGD([{ params: [{ key: 'w', param: m.w }], weightDecay: 0, lrScale: 1 }], 0.9, nesterov);
      const g = tf.tensor1d([1, 1]);
      opt.step(new Map([['w', g]]), 0.1);
      opt.step(new Map([['w', g]]), 0.1);
      // buf1 = 1, buf2 = 1.9; plain: 1 - 0.1*1 - 0.1*1.9; nesterov: dirs 1 + 0.9*1, 1 + 0.9*1.9
      const expected = nesterov ? 1 - 0.1 * 1.9 - 0.1 * 2.71 : 1 - 0.1 - 0.19;
      expect((await vals(m.w.value))[0]).toBeCloseTo(expected, 5);
    }
  });

  it('clips gradients to a global norm', async () => {
    const grads = new Map([['a', tf.tensor1d([3, 0])], ['b', tf.tensor1d([0, 4])]]);
    const norm = clipGradNorm(grads, 1);
    expect((await vals(norm))[0]).toBeCloseTo(5, 5);
    expect(await vals(grads.get('a')!)).toEqual([expect.closeTo(0.6, 5), 0]);
    expect((await vals(grads.get('b')!))[1]).toBeCloseTo(0.8, 5);
  });
});

describe('schedule', () => {
  it('warms up linearly then follows a cosine to min_lr', () => {
    const c = { type: 'cosine' as const, baseLr: 1, totalSteps: 110, warmupSteps: 10, warmupLr: 0, minLr: 0.1 };
    expect(learningRate(c, 0)).toBe(0);
    expect(learningRate(c, 5)).toBeCloseTo(0.5);
    expect(learningRate(c, 10)).toBeCloseTo(1);
    expect(learningRate(c, 60)).toBeCloseTo(0.55);
    expect(learningRate(c, 110)).toBeCloseTo(0.1);
  });
});

describe('losses', () => {
  it('label smoothing and cross entropy', async () => {
    expect(await vals(smoothOneHot(tf.tensor1d([1], 'int32'), 4, 0.2))).toEqual([0.05, 0.85, 0.05, 0.05].map(Math.fround));
    const logits = tf.tensor2d([[2, 0, 0]]);
    const lse = Math.log(Math.exp(2) + 2);
    expect((await vals(crossEntropy(logits, tf.tensor1d([0], 'int32'))))[0]).toBeCloseTo(lse - 2, 5);
    const smoothed = 0.9 * (lse - 2) + (0.1 / 3) * (lse - 2 + 2 * lse);
    expect((await vals(crossEntropy(logits, tf.tensor1d([0], 'int32'), 0.1)))[0]).toBeCloseTo(smoothed, 5);
  });

  it('pixel cross entropy ignores the ignore index in sum and mean', async () => {
    const logits = tf.tensor4d([[[[5, 0], [0, 5]], [[0, 0], [3, 1]]]]);
    const labels = tf.tensor3d([[[0, 1], [255, 255]]], [1, 2, 2], 'int32');
    const expected = Math.log(1 + Math.exp(-5));
    expect((await vals(pixelCrossEntropy(logits, labels, 255)))[0]).toBeCloseTo(expected, 5);
  });
});

describe('mixup and cutmix', () => {
  it('samples Beta with the right mean', () => {
    const rng = new Rng(1);
    let s = 0;
    for (let i = 0; i < 4000; i++) s += sampleBeta(rng, 0.4, 0.4);
    expect(s / 4000).toBeCloseTo(0.5, 1);
  });

  it('mixes images and targets with one weight (targets stay distributions)', async () => {
    const x = tf.stack([tf.fill([4, 4, 1], 1), tf.fill([4, 4, 1], 0)]) as tf.Tensor4D;
    const y = tf.tensor1d([0, 1], 'int32');
    for (const cfg of [{ mixupAlpha: 1, cutmixAlpha: 0 }, { mixupAlpha: 0, cutmixAlpha: 1 }]) {
      const { x: xm, targets } = mixBatch(x, y, { ...cfg, numClasses: 2 }, new Rng(7));
      const t = await vals(targets);
      const lam = t[0]!;
      expect(t[0]! + t[1]!).toBeCloseTo(1, 6);
      expect(t[3]).toBeCloseTo(lam, 6);
      // image 0 is all ones mixed with zeros: its mean is the weight of its own label
      expect((await vals(tf.mean(tf.slice(xm, [0, 0, 0, 0], [1, 4, 4, 1]))))[0]).toBeCloseTo(lam, 5);
    }
  });
});

describe('parameter groups', () => {
  it('no decay on 1-D parameters and biases; freezing by pattern', () => {
    const model = createModel('van_b0', { numClasses: 3, init: false });
    const frozen = freezeParameters(model, ['patch_embed1.*']);
    expect(frozen).toEqual(['patch_embed1.proj.weight', 'patch_embed1.proj.bias', 'patch_embed1.norm.weight', 'patch_embed1.norm.bias']);
    const groups = buildParamGroups(model, { weightDecay: 0.05 });
    const decayed = groups.filter((g) => g.weightDecay > 0).flatMap((g) => g.params.map((p) => p.key));
    const all = groups.flatMap((g) => g.params.map((p) => p.key));
    expect(all).not.toContain('patch_embed1.proj.weight');
    expect(decayed).toContain('block1.0.attn.proj_1.weight');
    expect(decayed).not.toContain('block1.0.layer_scale_1');
    expect(decayed).not.toContain('head.bias');
    expect(() => freezeParameters(model, ['nothing.*'])).toThrow(/matches no parameter/);
  });

  it('layer ids: stem 0, one per block, downsampling joins the next block, head last', () => {
    const model = createModel('van_b0', { init: false });
    const { ids, numLayers } = layerIds(model);
    expect(numLayers).toBe(13 + 2);
    expect(ids.get('patch_embed1.proj.weight')).toBe(0);
    expect(ids.get('block1.0.layer_scale_1')).toBe(1);
    expect(ids.get('norm1.weight')).toBe(4);
    expect(ids.get('patch_embed2.proj.weight')).toBe(4);
    expect(ids.get('block4.1.mlp.fc2.bias')).toBe(13);
    expect(ids.get('norm4.weight')).toBe(14);
    expect(ids.get('head.weight')).toBe(14);
    const groups = buildParamGroups(model, { weightDecay: 0, layerDecay: 0.5 });
    const scaleOf = (k: string) => groups.find((g) => g.params.some((p) => p.key === k))!.lrScale;
    expect(scaleOf('head.weight')).toBe(1);
    expect(scaleOf('block4.1.mlp.fc2.bias')).toBe(0.5);
    expect(scaleOf('patch_embed1.proj.weight')).toBe(0.5 ** 14);
  });
});

describe('metrics', () => {
  it('top-1, top-5 and per-class accuracy', () => {
    const m = new ClassificationMeter(6);
    const logits = Float32Array.from([5, 4, 3, 2, 1, 0, /* */ 0, 1, 2, 3, 4, 5]);
    m.add(logits, [0, 1]);
    const r = m.result();
    expect(r.top1).toBe(0.5);
    expect(r.top5).toBe(1);
    expect(r.perClass[0]!.accuracy).toBe(1);
    expect(r.perClass[1]!.accuracy).toBe(0);
    expect(r.perClass[2]!.accuracy).toBeNull();
  });

  it('mIoU and pixel accuracy skip the ignore index', () => {
    const m = new SegmentationMeter(2, 255);
    m.add([0, 1, 1, 0, 1], [0, 1, 0, 255, 1]);
    const r = m.result();
    expect(r.pixelAccuracy).toBe(0.75);
    // class 0: tp 1, fn 1, fp 0 -> 1/2; class 1: tp 2, fp 1 -> 2/3
    expect(r.mIoU).toBeCloseTo((0.5 + 2 / 3) / 2, 10);
  });
});

describe('EMA', () => {
  it('averages weights and swaps them in for evaluation', async () => {
    const l = new Linear(1, 1);
    l.weight.setTorch(Float32Array.from([1]));
    const ema = new ModelEma(l, 0.5);
    l.weight.setTorch(Float32Array.from([3]));
    ema.update();
    const seen = await ema.withWeights(async () => (await vals(l.weight.value))[0]);
    expect(seen).toBe(2);
    expect((await vals(l.weight.value))[0]).toBe(3);
  });
});
