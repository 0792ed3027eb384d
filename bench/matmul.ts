/**
 * vizoo's SIMD matmul against XNNPACK on tfjs-wasm for the 1x1 convs and Linears of the convnets (the shapes
 * their forwards run, as (pixels x in) @ (in x out)): each shape as a fused 1x1 conv with bias, timed in
 * alternating pairs with vizoo's kernels on and off (`setFusedInference(false)`: tfjs-wasm's stock
 * FusedConv2D, which is XNNPACK). Printed per shape: both medians, GFLOP/s and the median of the pairs'
 * ratios vizoo / XNNPACK.
 */
import { tf, useBackend } from '../src/index.js';
import { setFusedInference } from '../src/kernels/inference.js';
import { relaxedSimdSupported } from '../src/kernels/simd/assembler.js';
import type { BenchModule } from './types.js';
import { alternate } from './ort.js';

/** (model, pixels, in, out): van_b0's MLPs and stage-4 products, unireplknet_a's pwconvs, LITv2-S's largest. */
const SHAPES: [string, number, number, number][] = [
  ['van_b0 stage 1 fc1', 3136, 32, 256],
  ['van_b0 stage 1 fc2', 3136, 256, 32],
  ['van_b0 stage 2 fc1', 784, 64, 512],
  ['van_b0 stage 4 fc1', 49, 256, 1024],
  ['unireplknet_a stage 1 pwconv1', 3136, 40, 160],
  ['unireplknet_a stage 3 pwconv2', 196, 640, 160],
  ['litv2_s stage 3 fc1', 196, 384, 1536],
  ['litv2_s stage 4 fc1', 49, 768, 3072],
];

export const matmul: BenchModule = {
  benchmarks: [],
  reports: [
    {
      name: 'wasm matmul',
      run: async () => {
        await useBackend('wasm');
        const lines = [
          `1x1 conv + bias on tfjs-wasm: vizoo's SIMD matmul (${relaxedSimdSupported() ? 'fused multiply-add' : 'multiply + add'}) against XNNPACK, 9 alternating pairs`,
          '| shape | m x k x n | vizoo ms | XNNPACK ms | vizoo GFLOP/s | XNNPACK GFLOP/s | vizoo / XNNPACK |',
          '|---|---|---:|---:|---:|---:|---:|',
        ];
        for (const [label, m, k, n] of SHAPES) {
          const x = tf.randomNormal([1, m, 1, k], 0, 1, 'float32', 1) as tf.Tensor4D;
          const filter = tf.randomNormal([1, 1, k, n], 0, 1, 'float32', 2) as tf.Tensor4D;
          const bias = tf.randomNormal([n], 0, 1, 'float32', 3);
          const time = (fused: boolean) => async () => {
            setFusedInference(fused);
            // tfjs-wasm runs the kernel synchronously: the output is ready when the op returns.
            const t0 = performance.now();
            const y = tf.fused.conv2d({ x, filter, bias, strides: 1, pad: 'valid' });
            const ms = performance.now() - t0;
            y.dispose();
            return ms;
          };
          try {
            const r = await alternate(time(true), time(false), 9);
            const gflops = (ms: number) => ((2 * m * k * n) / ms / 1e6).toFixed(1);
            lines.push(`| ${label} | ${m} x ${k} x ${n} | ${r.aMs.toFixed(2)} | ${r.bMs.toFixed(2)} | ${gflops(r.aMs)} | ${gflops(r.bMs)} | ${r.ratio.toFixed(2)} |`);
          } finally {
            setFusedInference(true);
            tf.dispose([x, filter, bias]);
          }
        }
        return lines;
      },
    },
  ],
};
