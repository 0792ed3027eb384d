// SOFT's Newton-Schulz steps and SOFT-Norm's alpha halving as single inference kernels against the
// composites they replace, on wasm and cpu, and the kernels a SOFT forward runs with and without them.
import { afterAll, describe, expect, it } from 'vitest';
import { createModel, tf, useBackend } from '../../src/index.js';
import { NEWTON_STEPS, NORM_HALVING, newtonSteps, normHalvingFused } from '../../src/kernels/newton_inverse.js';
import { newtonInverse, newtonInverseNormalized, normHalvingFactor } from '../../src/blocks/soft_attention.js';
import { bothPaths, forwardRun, kernelNames, maxDiff } from '../helpers/fused.js';

/** Gaussian kernel matrices exp(-||a_i - a_j||^2 / 2) of random points: symmetric positive, as SOFT's K2. */
function gaussianMatrices(shape: number[], seed: number): tf.Tensor {
  return tf.tidy(() => {
    const pts = tf.randomNormal([...shape.slice(0, -1), 5], 0, 0.7, 'float32', seed);
    return tf.exp(tf.mul(tf.sum(tf.square(tf.sub(tf.expandDims(pts, -2), tf.expandDims(pts, -3))), -1), -0.5));
  });
}

const maxAbs = (a: Float32Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/**
 * Diagonal matrices whose largest entry d = 3, in the last matrix only, makes SOFT-Norm halve alpha0 exactly
 * `k` times (at most 10): alpha0 = 1.5 2^k / d^2, so pnorm(alpha0 0.5^j) = max_i |1 - alpha0 0.5^j d_i^2| is
 * 1.5 2^(k-j) - 1 >= 2 for j < k and 0.5 at j = k. The other entries (<= d / 2) alone would stop earlier.
 */
function halvingCase(k: number): { alpha0: tf.Tensor; p: tf.Tensor } {
  const d = 3;
  const diag = [[0.5, 1, 1.5, 0.2, 0.7], [1, 1.5, 0.3, 1.2, 1], [1.5, 1, d, 0.1, 0.4]];
  return { alpha0: tf.scalar((1.5 * 2 ** k) / d ** 2), p: tf.stack(diag.map((v) => tf.diag(tf.tensor1d(v)))) };
}

for (const backend of ['wasm', 'cpu'] as const) {
  describe(`SOFT Newton kernels on ${backend}`, () => {
    it('switch backend', async () => {
      await useBackend(backend);
    });

    for (const shape of [[3, 7, 7], [2, 2, 13, 13], [1, 49, 49]]) {
      it(`newtonInverse and newtonInverseNormalized on [${shape}]: one Newton kernel, the composite's value`, async () => {
        const k = gaussianMatrices(shape, shape.length * 10 + shape[shape.length - 1]!);
        for (const f of [newtonInverse, newtonInverseNormalized]) {
          const r = bothPaths(() => f(k, 20));
          expect(maxDiff(r.fused, r.composite)).toBeLessThan(5e-5 * Math.max(1, maxAbs(r.composite)));
          const names = await kernelNames(() => f(k, 20));
          expect(names.filter((n) => n === NEWTON_STEPS).length).toBe(1);
          expect(names).not.toContain('BatchMatMul');
        }
        k.dispose();
      });
    }

    it('newtonSteps: zero steps return x0, one step is 2x - x p x; non-square or mismatched inputs throw', () => {
      const p = gaussianMatrices([2, 5, 5], 1);
      const x = tf.mul(p, 0.1);
      expect(maxDiff(newtonSteps(x, p, 0).dataSync() as Float32Array, x.dataSync() as Float32Array)).toBe(0);
      const step = tf.sub(tf.mul(x, 2), tf.matMul(tf.matMul(x, p), x));
      expect(maxDiff(newtonSteps(x, p, 1).dataSync() as Float32Array, step.dataSync() as Float32Array)).toBeLessThan(1e-6);
      expect(() => newtonSteps(tf.zeros([2, 5, 4]), tf.zeros([2, 5, 4]), 3)).toThrow(/\(\.\.\., m, m\)/);
      expect(() => newtonSteps(tf.zeros([3, 5, 5]), p, 3)).toThrow(/same shape/);
      expect(() => newtonSteps(x, p, 1.5)).toThrow(/iters/);
      expect(() => normHalvingFused(tf.zeros([2]), p)).toThrow(/alpha0/);
      tf.dispose([p, x, step]);
    });

    it('the halving factor stops at every k from 0 to 10 as the composite does, in one kernel', async () => {
      for (let k = 0; k <= 12; k++) {
        const { alpha0, p } = halvingCase(k);
        const want = 0.5 ** Math.min(k, 10);
        expect(normHalvingFactor(alpha0, p).dataSync()[0]).toBe(want);
        expect(normHalvingFused(alpha0, p).dataSync()[0]).toBe(want);
        tf.dispose([alpha0, p]);
      }
      const { alpha0, p } = halvingCase(3);
      expect(await kernelNames(() => normHalvingFused(alpha0, p))).toEqual([NORM_HALVING]);
      tf.dispose([alpha0, p]);
    });

    it('the halving factor agrees with the composite over a range of alpha0, on Gaussian kernel and non-symmetric matrices', () => {
      // Upper triangular: column sums (the official axis) differ from row sums.
      const nonSymmetric = tf.add(tf.linalg.bandPart(tf.randomUniform([2, 9, 9], 0, 1, 'float32', 8), 0, -1), tf.eye(9));
      for (const p of [gaussianMatrices([2, 3, 11, 11], 7), nonSymmetric]) {
        const rowMax = tf.max(tf.sum(p, -1)).dataSync()[0]!;
        const seen = new Set<number>();
        for (let j = -12; j <= 14; j++) {
          const alpha0 = tf.scalar((2 / rowMax ** 2) * 2 ** j);
          const fused = normHalvingFused(alpha0, p).dataSync()[0]!;
          expect(fused).toBe(normHalvingFactor(alpha0, p).dataSync()[0]);
          seen.add(fused);
          alpha0.dispose();
        }
        expect(seen.size).toBeGreaterThan(8);
        p.dispose();
      }
    });

    for (const name of ['soft_tiny', 'soft_norm_tiny']) {
      it(`${name}: at most half the composite's kernels per forward, the same output within 1e-5`, async () => {
        const m = createModel(name, { seed: 1 }).eval();
        // 64px: 2x2 landmarks per head in each SOFT stage (the kernel tests above take odd sizes).
        const x = tf.randomNormal([1, 64, 64, 3], 0, 1, 'float32', 15);
        const compositeRun = await forwardRun(m, x, false);
        const fusedRun = await forwardRun(m, x, true);
        const [composite, fused] = [compositeRun.kernels, fusedRun.kernels];
        expect(fused.length).toBeLessThanOrEqual(composite.length / 2);
        // One of each per SOFT block (depths 1, 2, 3).
        expect(fused.filter((n) => n === NEWTON_STEPS).length).toBe(6);
        expect(fused.filter((n) => n === NORM_HALVING).length).toBe(name === 'soft_norm_tiny' ? 6 : 0);
        expect(maxDiff(fusedRun.out, compositeRun.out)).toBeLessThan(1e-5);
        x.dispose();
        m.dispose();
      });
    }
  });
}

afterAll(async () => {
  await useBackend('wasm');
});
