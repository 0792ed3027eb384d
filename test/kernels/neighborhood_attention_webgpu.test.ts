// The WGSL neighborhood-attention kernel against the composite, and its gradient, on WebGPU. Runs through
// SwiftShader when no GPU is present (slow, so the configurations are tiny); skipped when Dawn finds no adapter.
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/tf.js';
import { useBackend } from '../../src/backend/index.js';
import { neighborhoodAttention, type NeighborhoodAttentionOptions } from '../../src/kernels/neighborhood_attention.js';

const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER)) process.env.VK_ICD_FILENAMES = SWIFTSHADER;

const webgpu = await useBackend('webgpu').then(
  () => true,
  () => false,
);
await useBackend(process.env.VIZOO_TEST_BACKEND ?? 'wasm');

async function maxDiff(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const d = tf.max(tf.abs(tf.sub(a, b)));
  const v = (await d.data())[0]!;
  d.dispose();
  return v;
}

describe.skipIf(!webgpu)('neighborhood attention WGSL kernel', () => {
  afterAll(async () => {
    await useBackend(process.env.VIZOO_TEST_BACKEND ?? 'wasm');
  });

  it('matches the composite (values and gradients) on NA+RPB+dilation and causal GNA', async () => {
    await useBackend('webgpu');
    const shape = [2, 6, 7, 2, 4];
    const [q, k, v] = [1, 2, 3].map((s) => tf.randomNormal(shape, 0, 1, 'float32', s)) as [tf.Tensor, tf.Tensor, tf.Tensor];
    const rpb = tf.randomNormal([2, 5, 5], 0, 0.5, 'float32', 4);
    const cases: NeighborhoodAttentionOptions[] = [
      { kernelSize: 3, dilation: [2, 1], rpb },
      { kernelSize: [4, 3], stride: [2, 3], isCausal: [true, false] },
    ];
    for (const o of cases) {
      const ref = neighborhoodAttention(q, k, v, { ...o, impl: 'composite' });
      const fused = neighborhoodAttention(q, k, v, { ...o, impl: 'fused' });
      expect(await maxDiff(ref, fused)).toBeLessThan(1e-5);
      const loss = (impl: 'fused' | 'composite') => (...a: tf.Tensor[]) => tf.sum(tf.mul(neighborhoodAttention(a[0]!, a[1]!, a[2]!, { ...o, rpb: a[3] ?? null, impl }), ref));
      const inputs = o.rpb ? [q, k, v, rpb] : [q, k, v];
      const gf = tf.grads(loss('fused'))(inputs);
      const gc = tf.grads(loss('composite'))(inputs);
      for (let i = 0; i < inputs.length; i++) expect(await maxDiff(gf[i]!, gc[i]!)).toBeLessThan(1e-5);
      tf.dispose([ref, fused, ...gf, ...gc]);
    }
    tf.dispose([q, k, v, rpb]);
  });
});
