// The composite sin/cos used on GPU backends: float32-accurate far outside [-pi, pi], with gradients.
import { describe, expect, it } from 'vitest';
import { tf, useBackend } from '../../src/index.js';
import { sinCosComposite } from '../../src/kernels/sincos.js';

describe('sinCosComposite', () => {
  it('matches Math.sin / Math.cos to float32 accuracy up to |x| = 2000', () => {
    const xs = Float32Array.from({ length: 4001 }, (_, i) => (i - 2000) * 0.9973 + Math.sin(i) * 0.3);
    const [s, c] = sinCosComposite(tf.tensor1d(xs));
    const sd = s.dataSync();
    const cd = c.dataSync();
    let m = 0;
    xs.forEach((x, i) => {
      m = Math.max(m, Math.abs(sd[i]! - Math.sin(x)), Math.abs(cd[i]! - Math.cos(x)));
    });
    // float32 x itself carries up to |x| * 6e-8 of argument error.
    expect(m).toBeLessThan(2e-6);
  });

  it('differentiates to cos / -sin (cpu)', async () => {
    await useBackend('cpu');
    try {
      const x = tf.tensor1d([-40.3, -3.0, -0.7, 0, 0.2, 1.6, 2.9, 4.5, 100.1]);
      const gs = tf.grad((t: tf.Tensor) => tf.sum(sinCosComposite(t)[0]))(x).dataSync();
      const gc = tf.grad((t: tf.Tensor) => tf.sum(sinCosComposite(t)[1]))(x).dataSync();
      Array.from(x.dataSync()).forEach((v, i) => {
        expect(gs[i]!).toBeCloseTo(Math.cos(v), 5);
        expect(gc[i]!).toBeCloseTo(-Math.sin(v), 5);
      });
    } finally {
      await useBackend('wasm');
    }
  });
});
