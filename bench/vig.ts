// ViG: model forward at 224² and 448² (GLA is linear in the token count, so the time ratio should stay
// near 4 = the token ratio), and the bidirectional GLA op in its chunk, recurrent and fused forms.
import { tf } from '../src/index.js';
import { type GlaImpl, glaBidirectional } from '../src/kernels/gated_linear_attention.js';
import type { BenchCase, BenchModule } from './types.js';
import { modelForwardCase } from './forward.js';

/** ViG-T's GLA shapes: 3 heads, dk 32, dv 64, L tokens. */
function glaCase(impl: GlaImpl, l: number, backends?: BenchCase['backends'], iterations?: number): BenchCase {
  return {
    name: `gla bid ${impl} 1x3x${l} dk32 dv64`,
    backends,
    iterations,
    warmup: 1,
    setup: async () => {
      const t = (d: number, seed: number) => tf.randomNormal([1, 3, l, d], 0, 1, 'float32', seed);
      const [q, k, v] = [t(32, 1), t(32, 2), t(64, 3)];
      const [gf, gb] = [tf.mul(tf.sigmoid(t(32, 4)), -0.1), tf.mul(tf.sigmoid(t(32, 5)), -0.1)];
      return {
        run: async () => {
          const o = glaBidirectional(q, k, v, gf, gb, { impl });
          await o.data();
          o.dispose();
        },
        dispose: () => tf.dispose([q, k, v, gf, gb]),
      };
    },
  };
}

export const vig: BenchModule = {
  benchmarks: [
    // The cpu backend needs tens of seconds per ViG-T forward: keep the count small.
    modelForwardCase('vig_t', 1, 224, { warmup: 1, iterations: 5 }),
    modelForwardCase('vig_t', 1, 448, { warmup: 1, iterations: 5 }),
    glaCase('chunk', 196),
    glaCase('recurrent', 196, undefined, 3),
    glaCase('chunk', 784),
    glaCase('fused', 196, ['webgpu']),
    glaCase('fused', 784, ['webgpu']),
  ],
  ratios: [
    { label: 'vig_t 448² / 224² forward time (linear complexity: ~4)', numerator: 'vig_t forward 1x3x448x448', denominator: 'vig_t forward 1x3x224x224' },
    { label: 'gla bid recurrent / chunk at L=196', numerator: 'gla bid recurrent 1x3x196 dk32 dv64', denominator: 'gla bid chunk 1x3x196 dk32 dv64' },
    { label: 'gla bid chunk L=784 / L=196 (linear: ~4)', numerator: 'gla bid chunk 1x3x784 dk32 dv64', denominator: 'gla bid chunk 1x3x196 dk32 dv64' },
  ],
};
