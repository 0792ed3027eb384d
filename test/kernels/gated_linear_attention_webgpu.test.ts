// The fused WGSL GLA kernel against the float64 reference and the chunk form, on webgpu. Without a GPU
// this runs on SwiftShader (slow: keep it small); it is skipped when no WebGPU adapter exists.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf, useBackend } from '../../src/index.js';
import { glaBidirectional, glaForward, glaReverse } from '../../src/kernels/gated_linear_attention.js';
import { GatedLinearAttention } from '../../src/blocks/gated_linear_attention.js';
import { bidReference, maxAbs, maxAbsDiff, randomGla, scanReference } from './gla_reference.js';

const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER)) process.env.VK_ICD_FILENAMES = SWIFTSHADER;

let available = false;
beforeAll(async () => {
  available = await useBackend('webgpu').then(
    () => true,
    () => false,
  );
});
afterAll(async () => {
  await useBackend('wasm');
});

describe('fused GLA kernel (webgpu)', () => {
  it('forward, reverse and bidirectional match the float64 reference (odd L, strongly negative gates)', async (ctx) => {
    if (!available) ctx.skip();
    const shape = { b: 2, h: 2, l: 19, dk: 4, dv: 6 };
    for (const gate of [{}, { normalizer: 1, zScale: 30, extra: 40 }]) {
      const x = randomGla(77, shape, gate);
      const t = (a: Float64Array, d: number) => tf.tensor4d(Float32Array.from(a), [shape.b, shape.h, shape.l, d]);
      const [q, k, v, gf, gb] = [t(x.q, 4), t(x.k, 4), t(x.v, 6), t(x.gf, 4), t(x.gb, 4)];
      const scale = 0.5;
      const cases: [tf.Tensor, Float64Array][] = [
        [glaForward(q, k, v, gf, { impl: 'fused' }), scanReference(x, x.gf, false, scale)],
        [glaReverse(q, k, v, gb, { impl: 'fused' }), scanReference(x, x.gb, true, scale)],
        [glaBidirectional(q, k, v, gf, gb, { impl: 'fused' }), bidReference(x, scale)],
      ];
      for (const [ours, ref] of cases) {
        const data = await ours.data();
        expect(maxAbsDiff(data, ref)).toBeLessThan(2e-5 * Math.max(1, maxAbs(ref)));
      }
      tf.dispose([q, k, v, gf, gb, ...cases.map((c) => c[0])]);
    }
  });

  it('auto picks the fused kernel for inference and the chunk form under autograd (same gradients)', async (ctx) => {
    if (!available) ctx.skip();
    const x = randomGla(78, { b: 1, h: 2, l: 9, dk: 2, dv: 4 });
    const t = (a: Float64Array, d: number) => tf.tensor4d(Float32Array.from(a), [1, 2, 9, d]);
    const xs = [t(x.q, 2), t(x.k, 2), t(x.v, 4), t(x.gf, 2), t(x.gb, 2)];
    const loss = (impl: 'auto' | 'chunk') => (...a: tf.Tensor[]) => tf.sum(tf.square(glaBidirectional(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, { impl })));
    const [q, k, v, gf, gb] = xs as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    const auto = await glaBidirectional(q, k, v, gf, gb).data();
    expect(maxAbsDiff(auto, await glaBidirectional(q, k, v, gf, gb, { impl: 'fused' }).data())).toBe(0);
    expect(maxAbsDiff(auto, await glaBidirectional(q, k, v, gf, gb, { impl: 'chunk' }).data())).toBeGreaterThan(0);
    const ga = tf.grads(loss('auto'))(xs);
    const gc = tf.grads(loss('chunk'))(xs);
    for (let i = 0; i < xs.length; i++) expect(maxAbsDiff(await ga[i]!.data(), await gc[i]!.data())).toBe(0);
    tf.dispose([...xs, ...ga, ...gc]);
  });

  it('a ViG GLA layer gives the same output on webgpu (fused) and on cpu (chunk)', async (ctx) => {
    if (!available) ctx.skip();
    const layer = new GatedLinearAttention(16, 2, { useActInConv: true, useOutAct: true, evalOutputScale: 0.5 }).initialize(3).eval();
    const input = tf.randomNormal([2, 3, 5, 16], 0, 1, 'float32', 4);
    const xData = await input.data();
    const gpu = await layer.forward(input).data();
    const sd = await layer.stateDict();
    await useBackend('cpu');
    const cpuLayer = new GatedLinearAttention(16, 2, { useActInConv: true, useOutAct: true, evalOutputScale: 0.5 }).eval();
    cpuLayer.loadStateDict(sd);
    const cpu = await cpuLayer.forward(tf.tensor4d(xData, [2, 3, 5, 16])).data();
    expect(maxAbsDiff(gpu, cpu)).toBeLessThan(1e-4 * Math.max(1, maxAbs(cpu)));
    await useBackend('webgpu');
  });
});
