// The single-kernel inference paths (LayerNorm, GELU, Linear's direct matmul, eval batch norm) against the
// composite ops they replace, on wasm and cpu; and the kernels one forward runs with and without them.
import { afterAll, describe, expect, it } from 'vitest';
import { BatchNorm2d, Conv2d, Linear, createModel, tf, useBackend } from '../../src/index.js';
import * as F from '../../src/nn/functional.js';
import { ADD_RELU, GELU_ERF, GELU_TANH, LAYER_NORM, SCALED_ADD, erf } from '../../src/kernels/inference.js';
import { BATCH_NORM_RELU } from '../../src/kernels/batch_norm_simd.js';
import { glaBidirectional, glaForward, glaReverse } from '../../src/kernels/gated_linear_attention.js';
import { GLA_SCAN } from '../../src/kernels/gated_linear_attention_js.js';
import { DEPTHWISE_SIMD } from '../../src/kernels/depthwise_simd.js';
import { GRN_KERNEL } from '../../src/kernels/grn.js';
import { GRN } from '../../src/blocks/grn.js';
import { ReLU } from '../../src/nn/layers.js';
import { Sequential } from '../../src/nn/module.js';

import { bothPaths, forwardRun, kernelNames, maxDiff } from '../helpers/fused.js';

/** Random running statistics and affine parameters (bias too unless `bias` is false), from seeds seed..seed+3. */
function randomize(bn: BatchNorm2d, seed: number, bias = true): void {
  const c = bn.numFeatures;
  bn.runningMean.value.assign(tf.randomNormal([c], 0, 1, 'float32', seed));
  bn.runningVar.value.assign(tf.add(tf.randomUniform([c], 0, 2, 'float32', seed + 1), 0.1));
  bn.weight!.value.assign(tf.randomNormal([c], 1, 0.3, 'float32', seed + 2));
  if (bias) bn.bias!.value.assign(tf.randomNormal([c], 0, 0.3, 'float32', seed + 3));
}

describe('erf', () => {
  it('matches reference values to 1e-10', () => {
    // erf at a few points (high-precision references).
    const ref: [number, number][] = [
      [0, 0],
      [0.1, 0.1124629160182849],
      [0.5, 0.5204998778130465],
      [1, 0.8427007929497149],
      [2, 0.9953222650189527],
      [3.5, 0.9999992569016276],
      [-1.3, -0.9340079449406524],
      [7, 1],
    ];
    for (const [x, v] of ref) expect(Math.abs(erf(x) - v)).toBeLessThan(1e-10);
    expect(erf(NaN)).toBeNaN();
  });
});

for (const backend of ['wasm', 'cpu'] as const) {
  describe(`inference kernels on ${backend}`, () => {
    it('switch backend', async () => {
      await useBackend(backend);
    });

    it('LayerNorm is one kernel and matches the composite within 1e-5', async () => {
      const x = tf.add(tf.mul(tf.randomNormal([2, 5, 7, 24], 0, 1, 'float32', 3), 3), 2);
      const w = tf.randomNormal([24], 1, 0.5, 'float32', 4);
      const b = tf.randomNormal([24], 0, 0.5, 'float32', 5);
      for (const [wi, bi] of [[w, b], [w, null], [null, b], [null, null]] as const) {
        const r = bothPaths(() => F.layerNorm(x, wi, bi, 1e-6));
        expect(maxDiff(r.fused, r.composite)).toBeLessThan(1e-5);
      }
      expect(await kernelNames(() => F.layerNorm(x, w, b, 1e-5))).toEqual([LAYER_NORM]);
      tf.dispose([x, w, b]);
    });

    it('GELU is one kernel and matches the composite within 1e-5, extremes included', async () => {
      const x = tf.concat([tf.mul(tf.randomNormal([4000], 0, 1, 'float32', 6), 4), tf.tensor1d([0, -0, 1e-30, -1e-30, 8.49, 8.5, -8.5, 30, -30, 1e4, -1e4])]);
      const r = bothPaths(() => F.gelu(x));
      expect(maxDiff(r.fused, r.composite)).toBeLessThan(1e-5);
      expect(await kernelNames(() => F.gelu(x))).toEqual([GELU_ERF]);
      x.dispose();
    });

    it('tanh GELU is one kernel and matches the composite within 1e-5, extremes included', async () => {
      const x = tf.concat([tf.mul(tf.randomNormal([4001], 0, 1, 'float32', 16), 4), tf.tensor1d([0, 1e-6, -1e-6, 9, -9, 30, -30, 1e4, -1e4])]);
      const r = bothPaths(() => F.geluTanh(x));
      expect(maxDiff(r.fused, r.composite)).toBeLessThan(1e-5);
      expect(await kernelNames(() => F.geluTanh(x))).toEqual([GELU_TANH]);
      x.dispose();
    });

    it('Linear without its reshapes matches tf.fused.matMul on rank 2, 3 and 4 inputs', async () => {
      for (const bias of [true, false]) {
        const lin = new Linear(12, 20, { bias });
        for (const shape of [[6, 12], [1, 9, 12], [2, 9, 12], [2, 3, 5, 12]]) {
          const x = tf.randomNormal(shape, 0, 1, 'float32', 7);
          const r = bothPaths(() => lin.forward(x));
          expect(maxDiff(r.fused, r.composite)).toBeLessThan(1e-5);
          const ks = await kernelNames(() => lin.forward(x));
          // The weight's (1, in, out) view is kept from the first call; only inputs of another rank are reshaped.
          expect(ks.filter((k) => k === 'Reshape').length).toBe(shape.length === 3 && shape[0] === 1 ? 0 : 2);
          x.dispose();
        }
        lin.dispose();
      }
    });

    it('eval BatchNorm2d is the FusedBatchNorm kernel alone and matches tf.batchNorm', async () => {
      const bn = new BatchNorm2d(8, 1e-3);
      bn.eval();
      randomize(bn, 8);
      const x = tf.randomNormal([2, 4, 5, 8], 0, 2, 'float32', 12);
      const r = bothPaths(() => bn.forward(x));
      expect(maxDiff(r.fused, r.composite)).toBeLessThan(1e-5);
      expect(await kernelNames(() => bn.forward(x))).toEqual(['FusedBatchNorm']);
      x.dispose();
      bn.dispose();
    });

    it('conv -> eval BatchNorm2d (-> ReLU) is one conv kernel with the batch norm folded in, refolded after an assignment', async () => {
      const x = tf.randomNormal([2, 9, 7, 6], 0, 1, 'float32', 30);
      const convs = [
        new Conv2d(6, 10, 3, { padding: 1, bias: false }),
        new Conv2d(6, 10, 3, { stride: 2, padding: 1 }),
        new Conv2d(6, 12, 5, { padding: 2, groups: 6, bias: false }), // depthwise, multiplier 2
        new Conv2d(6, 6, 3, { padding: 1, groups: 6 }),
      ];
      for (const [i, conv] of convs.entries()) {
        for (const relu of [false, true]) {
          const bn = new BatchNorm2d(conv.outChannels, 1e-3);
          randomize(bn, 40 + i);
          const seq = relu ? new Sequential(conv, bn, new ReLU()) : new Sequential(conv, bn);
          seq.eval();
          const r = bothPaths(() => seq.forward(x));
          expect(maxDiff(r.fused, r.composite)).toBeLessThan(1e-4);
          const ks = await kernelNames(() => seq.forward(x));
          expect(ks.filter((k) => k !== 'Reshape')).toHaveLength(1);
          // New statistics (a state-dict load assigns the variables): the fold follows them.
          randomize(bn, 50 + i);
          const again = bothPaths(() => seq.forward(x));
          expect(maxDiff(again.fused, again.composite)).toBeLessThan(1e-4);
          expect(maxDiff(again.fused, r.fused)).toBeGreaterThan(1e-2);
          // Training mode frees the folded weight and bias, and uses the batch statistics: no fold.
          const before = tf.memory().numTensors;
          seq.train();
          expect(before - tf.memory().numTensors).toBe(2);
          expect((await kernelNames(() => seq.forward(x))).length).toBeGreaterThan(3);
          // Disposing frees a fold too: weight, bias, running mean and variance, batches tracked, and the fold.
          seq.eval();
          tf.dispose(seq.forward(x));
          const evalTensors = tf.memory().numTensors;
          bn.dispose();
          expect(evalTensors - tf.memory().numTensors).toBe(7);
        }
        conv.dispose();
      }
      x.dispose();
    });

    it('eval BatchNorm2d -> unpadded conv folds the batch norm into the conv; padded convs keep it', async () => {
      const bn = new BatchNorm2d(6, 1e-3);
      bn.eval();
      randomize(bn, 60);
      const x = tf.randomNormal([2, 9, 7, 6], 0, 1, 'float32', 64);
      const cases: [Conv2d, boolean][] = [
        [new Conv2d(6, 10, 1), true],
        [new Conv2d(6, 10, 3, { stride: 2, bias: false }), true],
        [new Conv2d(6, 10, 3, { padding: 1 }), false], // the zero padding would be normalized too
        [new Conv2d(6, 6, 1, { groups: 3 }), false],
      ];
      for (const [conv, folded] of cases) {
        const r = bothPaths(() => conv.forwardAfter(bn, x));
        expect(maxDiff(r.fused, r.composite)).toBeLessThan(1e-4);
        const ks = (await kernelNames(() => conv.forwardAfter(bn, x))).filter((k) => k !== 'Reshape');
        if (folded) expect(ks).toHaveLength(1);
        else expect(ks[0]).toBe('FusedBatchNorm');
        conv.dispose();
      }
      tf.dispose([x]);
      bn.dispose();
    });

    it('residual add + ReLU, layer-scaled residual and BatchNorm -> ReLU are one kernel each and match the composite', async () => {
      // 5*7*9 = 315 channels-last values with 9 channels: a SIMD body and a scalar tail / the JS path; 8 channels: all SIMD.
      for (const c of [9, 8]) {
        const shape = [1, 5, 7, c];
        const [a, b] = [tf.randomNormal(shape, 0, 1, 'float32', 70), tf.randomNormal(shape, 0, 1, 'float32', 71)];
        const scale = tf.randomNormal([c], 0, 1, 'float32', 72);
        for (const [f, kernel] of [
          [() => F.addRelu(a, b), ADD_RELU],
          [() => F.addScaled(a, scale, b), SCALED_ADD],
        ] as const) {
          const r = bothPaths(f);
          expect(maxDiff(r.fused, r.composite)).toBeLessThan(1e-6);
          expect(await kernelNames(f)).toEqual([kernel]);
        }
        const bn = new BatchNorm2d(c, 1e-3);
        bn.eval();
        randomize(bn, 73, false);
        const seq = new Sequential(bn, new ReLU());
        seq.eval();
        const r = bothPaths(() => seq.forward(a));
        expect(maxDiff(r.fused, r.composite)).toBeLessThan(1e-5);
        expect(r.fused.some((v) => v === 0) && r.fused.some((v) => v > 0)).toBe(true);
        expect(await kernelNames(() => seq.forward(a))).toEqual([BATCH_NORM_RELU]);
        tf.dispose([a, b, scale]);
        seq.dispose();
      }
    });

    it('GRN is one kernel and matches the composite within 1e-5 (channels 4k and not, maps over one row block, batches)', async () => {
      // 23x17 = 391 pixels: more than one block of the blocked sum of squares.
      for (const [shape, useBias] of [[[2, 23, 17, 12], true], [[1, 5, 3, 6], true], [[3, 4, 9, 8], false], [[1, 1, 1, 4], true]] as const) {
        const c = shape[3];
        const grn = new GRN(c, useBias);
        grn.gamma.value.assign(tf.randomNormal([1, 1, 1, c], 0, 1, 'float32', 20));
        grn.beta?.value.assign(tf.randomNormal([1, 1, 1, c], 0, 1, 'float32', 21));
        const x = tf.mul(tf.randomNormal([...shape], 0, 1, 'float32', 22), 3);
        const r = bothPaths(() => grn.forward(x));
        expect(maxDiff(r.fused, r.composite)).toBeLessThan(1e-5 * Math.max(1, ...r.composite.map(Math.abs)));
        expect(await kernelNames(() => grn.forward(x))).toEqual([GRN_KERNEL]);
        x.dispose();
        grn.dispose();
      }
    });

    it('the GLA scan (forward, reverse, bidirectional) is one kernel and matches the chunk form within 1e-5', async () => {
      const shape = [2, 3, 11, 4];
      const q = tf.randomNormal(shape, 0, 1, 'float32', 16);
      const k = tf.randomNormal(shape, 0, 1, 'float32', 17);
      const v = tf.randomNormal([2, 3, 11, 5], 0, 1, 'float32', 18);
      // Log-space gates <= 0, some strongly negative.
      const gf = tf.neg(tf.abs(tf.randomNormal(shape, 0, 2, 'float32', 19)));
      const gb = tf.neg(tf.abs(tf.randomNormal(shape, 0, 2, 'float32', 20)));
      const calls = [() => glaForward(q, k, v, gf), () => glaReverse(q, k, v, gf), () => glaBidirectional(q, k, v, gf, gb)];
      for (const f of calls) {
        const r = bothPaths(f);
        expect(maxDiff(r.fused, r.composite)).toBeLessThan(1e-5);
        expect(await kernelNames(f)).toEqual([GLA_SCAN]);
      }
      tf.dispose([q, k, v, gf, gb]);
    });

    it('conv activations run inside the conv kernel and match the separate op within 1e-5', async () => {
      const x = tf.randomNormal([1, 6, 7, 8], 0, 1, 'float32', 24);
      const dense = new Conv2d(8, 12, 3, { padding: 1 });
      const depthwise = new Conv2d(8, 8, 3, { padding: 1, groups: 8 });
      for (const conv of [dense, depthwise]) {
        for (const act of ['relu', 'sigmoid'] as const) {
          const r = bothPaths(() => conv.forward(x, act));
          expect(maxDiff(r.fused, r.composite)).toBeLessThan(1e-5);
          // On wasm a depthwise conv with ReLU (not sigmoid) runs as the SIMD kernel, ReLU inside.
          const depthwiseKernel = backend === 'wasm' && act === 'relu' ? DEPTHWISE_SIMD : 'FusedDepthwiseConv2D';
          expect(await kernelNames(() => conv.forward(x, act))).toEqual([conv.depthwise ? depthwiseKernel : 'FusedConv2D']);
        }
      }
      x.dispose();
      dense.dispose();
      depthwise.dispose();
    });

    it('gradients take the composite path (the custom kernels have none) and stay correct', () => {
      const x = tf.randomNormal([3, 10], 0, 1, 'float32', 13);
      const w = tf.randomNormal([10], 1, 0.2, 'float32', 14);
      const ln = (t: tf.Tensor) => tf.sum(tf.mul(F.gelu(F.layerNorm(t, w, null, 1e-5)), tf.reshape(tf.range(0, 30), [3, 10])));
      const g = tf.grad(ln)(x);
      // Central differences of the same function (evaluated outside gradient recording: the fused path).
      const xs = x.arraySync() as number[][];
      const h = 1e-2;
      const gd = g.arraySync() as number[][];
      for (const [i, j] of [[0, 0], [1, 4], [2, 9]] as const) {
        const plus = xs.map((r) => [...r]);
        const minus = xs.map((r) => [...r]);
        plus[i]![j]! += h;
        minus[i]![j]! -= h;
        const fd = (ln(tf.tensor2d(plus)).dataSync()[0]! - ln(tf.tensor2d(minus)).dataSync()[0]!) / (2 * h);
        expect(gd[i]![j]!).toBeCloseTo(fd, 1);
      }
      tf.dispose([x, w, g]);
    });

    for (const name of ['van_b0', 'unireplknet_a', 'vig_t']) {
      it(`${name}: fewer kernels per forward than the composite path, same output within 1e-5`, async () => {
        const m = createModel(name, { seed: 1 }).eval();
        const x = tf.randomNormal([1, 64, 64, 3], 0, 1, 'float32', 15);
        const composite = await forwardRun(m, x, false);
        const fused = await forwardRun(m, x, true);
        expect(fused.kernels.length).toBeLessThan(composite.kernels.length * 0.75);
        expect(maxDiff(fused.out, composite.out)).toBeLessThan(1e-5);
        x.dispose();
        m.dispose();
      });
    }
  });
}

afterAll(async () => {
  await useBackend('wasm');
});
