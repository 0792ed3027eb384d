// The SIMD kernels with relaxed SIMD's fused multiply-add (what Node 22 and browsers run; Node 20 with
// VIZOO_WASM_RELAXED_SIMD=1): this file turns V8's flag on before the wasm backend starts (vitest runs each
// file in its own process), then checks that vizoo picked the fused form and that models and products
// still equal tfjs's own kernels.
import v8 from 'node:v8';
import { describe, expect, it } from 'vitest';
import { createModel, tf } from '../../src/index.js';
import { relaxedSimdSupported } from '../../src/kernels/simd/assembler.js';
import { setFusedInference } from '../../src/kernels/inference.js';
import { wasmSimdMatMulCount } from '../../src/kernels/matmul_simd.js';

v8.setFlagsFromString('--experimental-wasm-relaxed-simd');

function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  const [x, y] = [a.dataSync(), b.dataSync()];
  let d = 0;
  for (let i = 0; i < x.length; i++) d = Math.max(d, Math.abs(x[i]! - y[i]!));
  return d;
}

describe('relaxed SIMD kernels', () => {
  it('are chosen where the engine validates relaxed SIMD', () => {
    expect(tf.getBackend()).toBe('wasm');
    expect(relaxedSimdSupported()).toBe(true);
  });

  it('a VAN forward (1x1 convs and depthwise convs with fused multiply-adds) equals the stock kernels within 1e-4', () => {
    const m = createModel('van_b0', { numClasses: 10 }).eval();
    const x = tf.randomNormal([1, 64, 48, 3], 0, 1, 'float32', 3);
    const before = wasmSimdMatMulCount();
    const fused = tf.tidy(() => m.forward(x));
    expect(wasmSimdMatMulCount()).toBeGreaterThan(before);
    setFusedInference(false);
    const stock = tf.tidy(() => m.forward(x));
    setFusedInference(true);
    expect(maxDiff(fused, stock)).toBeLessThan(1e-4 * Math.max(1, ...Array.from(stock.dataSync(), Math.abs)));
    tf.dispose([fused, stock, x]);
    m.dispose();
  });
});
