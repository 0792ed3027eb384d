// Every family's bench model runs at most half the tfjs kernels per inference forward with vizoo's inference
// paths as with tfjs's own ops (`setFusedInference(false)`), with the same output: the count `npm run bench`
// prints per family, checked here at sizes small enough for CI. Counts do not depend on the size, except where
// the composite's work grows with the sequence (ViG's chunked scan: its default size).
import { beforeAll, describe, expect, it } from 'vitest';
import { createModel, tf, useBackend } from '../../src/index.js';
import { forwardRun, maxDiff } from '../helpers/fused.js';

/** Model and input [H, W] (null: the default input, where the weights fix the token count or the count depends on it). */
const FAMILIES: [string, [number, number] | null][] = [
  ['van_b0', [64, 64]],
  ['unireplknet_a_deploy', [64, 64]],
  ['bevanet_s_seg_deploy', [128, 256]],
  ['litv2_s', [64, 64]],
  ['soft_tiny', [64, 64]],
  ['soft_norm_tiny', [64, 64]],
  ['nat_mini', null],
  ['dinat_s_tiny', null],
  ['vig_t', null],
  ['eet_vit_small_cub_16bit', null],
  ['karat_vit_tiny_g3u', null],
];

describe('kernels per inference forward, fused against composite (wasm)', () => {
  beforeAll(async () => {
    await useBackend('wasm');
  });

  for (const [name, size] of FAMILIES) {
    it(`${name}: at most half the kernels (Reshape counted or not), same output within 1e-4`, async () => {
      const m = createModel(name, { seed: 1 }).eval();
      const [, h, w] = m.pretrainedCfg.inputSize;
      const x = tf.randomNormal([1, ...(size ?? [h, w]), 3], 0, 1, 'float32', 3);
      // Reshape moves no data (and dispatches nothing on any tfjs backend): counted both with and without it.
      const run = async (fused: boolean) => {
        const { out, kernels } = await forwardRun(m, x, fused);
        return { out, kernels: kernels.length, moving: kernels.filter((k) => k !== 'Reshape').length };
      };
      const composite = await run(false);
      const fused = await run(true);
      expect(fused.kernels).toBeLessThanOrEqual(composite.kernels / 2);
      expect(fused.moving).toBeLessThanOrEqual(composite.moving / 2);
      const scale = Math.max(1, ...composite.out.map(Math.abs));
      expect(maxDiff(fused.out, composite.out)).toBeLessThan(1e-4 * scale);
      x.dispose();
      m.dispose();
    });
  }
});
