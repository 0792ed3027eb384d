// Every custom convolution gradient (wasm backprop kernels, dilation-aware gradients) against central finite
// differences of a float64 reference convolution.
import { afterAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/tf.js';
import * as F from '../../src/nn/functional.js';
import { useBackend } from '../../src/backend/index.js';
import { type Nd, conv2dNchw, randn } from '../helpers/naive.js';

interface Case {
  name: string;
  C: number;
  O: number;
  k: [number, number];
  stride: [number, number];
  pad: [number, number];
  dil: [number, number];
  depthwise: boolean;
}

const CASES: Case[] = [
  { name: 'conv 3x3', C: 3, O: 4, k: [3, 3], stride: [1, 1], pad: [1, 1], dil: [1, 1], depthwise: false },
  { name: 'conv 3x3 stride 2', C: 3, O: 4, k: [3, 3], stride: [2, 2], pad: [1, 1], dil: [1, 1], depthwise: false },
  { name: 'conv 3x3 dilation 2', C: 2, O: 3, k: [3, 3], stride: [1, 1], pad: [2, 2], dil: [2, 2], depthwise: false },
  { name: 'conv 3x5 dilation (2,3), stride 2', C: 2, O: 3, k: [3, 5], stride: [2, 2], pad: [2, 3], dil: [2, 3], depthwise: false },
  { name: 'conv 1x1', C: 5, O: 2, k: [1, 1], stride: [1, 1], pad: [0, 0], dil: [1, 1], depthwise: false },
  { name: 'depthwise 5x5', C: 4, O: 4, k: [5, 5], stride: [1, 1], pad: [2, 2], dil: [1, 1], depthwise: true },
  { name: 'depthwise 3x3 stride 2', C: 3, O: 3, k: [3, 3], stride: [2, 2], pad: [1, 1], dil: [1, 1], depthwise: true },
  { name: 'depthwise 7x7 dilation 3 (LKA)', C: 3, O: 3, k: [7, 7], stride: [1, 1], pad: [9, 9], dil: [3, 3], depthwise: true },
  { name: 'depthwise strip (1,5) dilation 2', C: 2, O: 2, k: [1, 5], stride: [1, 1], pad: [0, 4], dil: [2, 2], depthwise: true },
  { name: 'depthwise multiplier 2, stride 2, dilation 2', C: 2, O: 4, k: [3, 3], stride: [2, 2], pad: [2, 2], dil: [2, 2], depthwise: true },
];

/** Sum over the reference conv output times r, in float64. */
function lossRef(x: Nd, w: Nd, r: Float64Array, c: Case): number {
  const y = conv2dNchw(x, w, null, { stride: c.stride, padding: c.pad, dilation: c.dil, groups: c.depthwise ? c.C : 1 });
  let s = 0;
  for (let i = 0; i < y.data.length; i++) s += y.data[i]! * r[i]!;
  return s;
}

function finiteDiff(x: Nd, w: Nd, r: Float64Array, c: Case, which: Nd, idx: number): number {
  const e = 1e-5;
  const v = which.data[idx]!;
  which.data[idx] = v + e;
  const a = lossRef(x, w, r, c);
  which.data[idx] = v - e;
  const b = lossRef(x, w, r, c);
  which.data[idx] = v;
  return (a - b) / (2 * e);
}

function check(backend: string) {
  describe(`conv gradients on ${backend}`, () => {
    for (const c of CASES) {
      it(c.name, async () => {
        await useBackend(backend);
        const x = randn([2, c.C, 9, 10], 1);
        const w = randn([c.O, c.depthwise ? 1 : c.C, c.k[0], c.k[1]], 2);
        const yShape = conv2dNchw(x, w, null, { stride: c.stride, padding: c.pad, dilation: c.dil, groups: c.depthwise ? c.C : 1 }).shape;
        const r = randn(yShape, 3).data;
        const xt: tf.Tensor4D = tf.transpose(tf.tensor4d(Float32Array.from(x.data), x.shape as [number, number, number, number]), [0, 2, 3, 1]);
        const wt = (c.depthwise
          ? tf.transpose(tf.reshape(tf.tensor(Float32Array.from(w.data), w.shape), [c.C, c.O / c.C, c.k[0], c.k[1]]), [2, 3, 0, 1])
          : tf.transpose(tf.tensor4d(Float32Array.from(w.data), w.shape as [number, number, number, number]), [2, 3, 1, 0])) as tf.Tensor4D;
        const rt = tf.transpose(tf.tensor(Float32Array.from(r), yShape), [0, 2, 3, 1]);
        const opts = { stride: c.stride, padding: c.pad, dilation: c.dil };
        const f = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(c.depthwise ? F.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, opts) : F.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, opts), rt));
        const [gx, gw] = tf.grads(f)([xt, wt]);
        const gxN = (await tf.transpose(gx!, [0, 3, 1, 2]).data()) as Float32Array;
        const gwT = c.depthwise ? tf.reshape(tf.transpose(gw!, [2, 3, 0, 1]), w.shape) : tf.transpose(gw!, [3, 2, 0, 1]);
        const gwN = (await gwT.data()) as Float32Array;
        let worst = 0;
        for (let t = 0; t < 24; t++) {
          const ix = (t * 7919) % x.data.length;
          const iw = (t * 104729) % w.data.length;
          for (const [nd, got, i] of [[x, gxN, ix], [w, gwN, iw]] as const) {
            const fd = finiteDiff(x, w, r, c, nd, i);
            worst = Math.max(worst, Math.abs(got[i]! - fd) / Math.max(1, Math.abs(fd)));
          }
        }
        expect(worst).toBeLessThan(1e-3);
      });
    }
  });
}

check('wasm');
check('cpu');

describe('UnsortedSegmentSum on wasm (gather gradient)', () => {
  afterAll(() => useBackend('wasm'));
  it('equals the cpu result, with repeated and unused indices', async () => {
    const table = randn([7, 3], 5).data;
    const idx = [0, 3, 3, 6, 0, 0, 2];
    const res: number[][] = [];
    for (const b of ['wasm', 'cpu']) {
      await useBackend(b);
      const t = tf.tensor2d(Float32Array.from(table), [7, 3]);
      const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.gather(v, tf.tensor1d(idx, 'int32')), tf.reshape(tf.range(1, 22), [7, 3]))))(t);
      res.push(Array.from(await g.data()));
    }
    expect(res[0]).toEqual(res[1]);
    expect(res[0]!.slice(0, 3)).toEqual([1 + 13 + 16, 2 + 14 + 17, 3 + 15 + 18]);
    expect(res[0]!.slice(9, 12)).toEqual([4 + 7, 5 + 8, 6 + 9]);
    expect(res[0]!.slice(12, 15)).toEqual([0, 0, 0]);
  });
});
