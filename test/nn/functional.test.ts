import { describe, expect, it } from 'vitest';
import { tf } from '../../src/tf.js';
import * as F from '../../src/nn/functional.js';
import { Conv2d } from '../../src/nn/layers.js';
import { avgPoolNchw, bilinearNchw, conv2dNchw, maxDiffNhwc, randn, toNhwcTensor } from '../helpers/naive.js';

describe('Conv2d matches PyTorch semantics', () => {
  const cases = [
    { name: 'plain 3x3', C: 4, O: 6, k: [3, 3], stride: [1, 1], pad: [1, 1], dil: [1, 1], groups: 1 },
    { name: 'strided 7x7 (patch embed)', C: 3, O: 5, k: [7, 7], stride: [4, 4], pad: [3, 3], dil: [1, 1], groups: 1 },
    { name: 'depthwise dilated 7x7 d3', C: 6, O: 6, k: [7, 7], stride: [1, 1], pad: [9, 9], dil: [3, 3], groups: 6 },
    { name: 'depthwise strip (1,7) d3', C: 4, O: 4, k: [1, 7], stride: [1, 1], pad: [0, 9], dil: [3, 3], groups: 4 },
    { name: 'grouped', C: 6, O: 4, k: [3, 3], stride: [1, 1], pad: [1, 1], dil: [1, 1], groups: 2 },
    { name: 'depthwise multiplier 2', C: 3, O: 6, k: [3, 3], stride: [2, 2], pad: [1, 1], dil: [1, 1], groups: 3 },
    { name: 'strided and dilated', C: 4, O: 5, k: [3, 3], stride: [2, 2], pad: [2, 2], dil: [2, 2], groups: 1 },
    { name: 'depthwise strided and dilated, odd size', C: 5, O: 5, k: [5, 3], stride: [2, 3], pad: [4, 2], dil: [2, 2], groups: 5 },
    { name: 'asymmetric padding per axis', C: 2, O: 3, k: [3, 5], stride: [1, 2], pad: [0, 3], dil: [1, 1], groups: 1 },
    // Kernels larger than the map: taps that only read padding are dropped (usefulTaps).
    { name: 'LKA 7x7 d3 on a tiny map', C: 3, O: 3, k: [7, 7], stride: [1, 1], pad: [9, 9], dil: [3, 3], groups: 3, H: 4, W: 5 },
    { name: '13x13 depthwise on a 5x4 map', C: 2, O: 2, k: [13, 13], stride: [1, 1], pad: [6, 6], dil: [1, 1], groups: 2, H: 5, W: 4 },
    { name: 'strided 7x7 on a 3x3 map', C: 2, O: 3, k: [7, 7], stride: [2, 2], pad: [3, 3], dil: [1, 1], groups: 1, H: 3, W: 3 },
    { name: '5x5 d2 stride 3 on a 2x7 map', C: 2, O: 2, k: [5, 5], stride: [3, 3], pad: [4, 4], dil: [2, 2], groups: 2, H: 2, W: 7 },
  ] as const;
  for (const c of cases) {
    it(c.name, async () => {
      const conv = new Conv2d(c.C, c.O, [c.k[0], c.k[1]], { stride: [c.stride[0], c.stride[1]], padding: [c.pad[0], c.pad[1]], dilation: [c.dil[0], c.dil[1]], groups: c.groups });
      const x = randn([2, c.C, 'H' in c ? c.H : 13, 'W' in c ? c.W : 11], 1);
      const w = randn([c.O, c.C / c.groups, c.k[0], c.k[1]], 2);
      const b = randn([c.O], 3);
      conv.loadStateDict({ weight: { dtype: 'F32', shape: w.shape, data: Float32Array.from(w.data) }, bias: { dtype: 'F32', shape: b.shape, data: Float32Array.from(b.data) } });
      const y = conv.forward(toNhwcTensor(x));
      const ref = conv2dNchw(x, w, b, { stride: [c.stride[0], c.stride[1]], padding: [c.pad[0], c.pad[1]], dilation: [c.dil[0], c.dil[1]], groups: c.groups });
      expect(await maxDiffNhwc(y, ref)).toBeLessThan(1e-4);
      conv.dispose();
    });
  }
});

describe('pooling', () => {
  for (const [k, s, p, cip, ceil] of [
    [5, 2, 2, true, false],
    [9, 4, 4, true, false],
    [3, 2, 1, false, false],
    [3, 2, 1, true, true],
    [2, 2, 0, true, true],
  ] as const) {
    it(`avgPool2d k${k} s${s} p${p} count_include_pad=${cip} ceil_mode=${ceil}`, async () => {
      const x = randn([1, 3, 11, 14], 5);
      const y = F.avgPool2d(toNhwcTensor(x) as tf.Tensor4D, k, { stride: s, padding: p, countIncludePad: cip, ceilMode: ceil });
      expect(await maxDiffNhwc(y, avgPoolNchw(x, k, s, p, cip, ceil))).toBeLessThan(1e-5);
    });
  }

  it('adaptive average pooling uses overlapping PyTorch bins', async () => {
    expect(F.adaptiveBins(5, 3)).toEqual([[0, 2], [1, 4], [3, 5]]);
    const x = randn([1, 2, 7, 5], 9);
    const y = F.adaptiveAvgPool2d(toNhwcTensor(x) as tf.Tensor4D, [3, 2]);
    const d = (await tf.transpose(y, [0, 3, 1, 2]).data()) as Float32Array;
    // bin (1, 1) of channel 1: rows [2, 5), cols [2, 5)
    let s = 0;
    for (let r = 2; r < 5; r++) for (let c = 2; c < 5; c++) s += x.data[(1 * 7 + r) * 5 + c]!;
    expect(d[1 * 6 + 1 * 2 + 1]).toBeCloseTo(s / 9, 5);
  });
});

describe('resize', () => {
  for (const ac of [false, true]) {
    it(`bilinear align_corners=${ac}, non-integer scale`, async () => {
      const x = randn([1, 2, 5, 7], 11);
      const y = F.resizeBilinear(toNhwcTensor(x) as tf.Tensor4D, [13, 4], ac);
      expect(await maxDiffNhwc(y, bilinearNchw(x, 13, 4, ac))).toBeLessThan(1e-5);
    });
  }
});

describe('activations and norms', () => {
  it('GELU is the exact erf form', async () => {
    const xs = [-4, -1.5, -0.3, 0, 0.2, 1, 3.7];
    const y = (await F.gelu(tf.tensor1d(xs)).data()) as Float32Array;
    // 0.5 x (1 + erf(x / sqrt 2)) at x = 1 is 0.8413447460685429; tanh form gives 0.8411919906082768.
    expect(y[5]).toBeCloseTo(0.8413447460685429, 6);
    // erf(4 / sqrt 2) = 0.9999366575163338
    expect(y[0]).toBeCloseTo(-2 * (1 - 0.9999366575163338), 6);
    expect(y[3]).toBe(0);
  });

  it('LayerNorm uses biased variance over the last axis', async () => {
    const x = tf.tensor2d([[1, 2, 3, 4]]);
    const y = (await F.layerNorm(x, null, null, 0).data()) as Float32Array;
    const sd = Math.sqrt(1.25);
    [-1.5, -0.5, 0.5, 1.5].forEach((v, i) => expect(y[i]).toBeCloseTo(v / sd, 6));
  });
});

describe('usefulTaps', () => {
  it('keeps only taps that reach the input', () => {
    // 7x7 dilation 3 "same" on a 7-long axis: offsets -9..9 step 3, only -6..6 reach.
    expect(F.usefulTaps(7, 3, 1, 9, 7, 7)).toEqual([1, 5]);
    expect(F.usefulTaps(7, 3, 1, 9, 1, 1)).toEqual([3, 3]);
    expect(F.usefulTaps(3, 1, 1, 1, 56, 56)).toEqual([0, 2]);
    // stride 2, pad 3, k 7 on 3 rows (outputs 2): tap 0 reads -3, -1: never inside.
    expect(F.usefulTaps(7, 1, 2, 3, 3, 2)).toEqual([1, 5]);
  });
});
