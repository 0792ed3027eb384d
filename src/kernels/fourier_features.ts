/**
 * Fourier-KArAt's row features (src/blocks/karat.ts) as one inference kernel on the cpu and wasm backends:
 * scores (B, h, N, N) -> (h, B*N, 2*G*N) with feature (cos|sin, m, q) of row (b, i) in head h equal to
 * cos(m a) | sin(m a) for a = scores[b, h, i, q], m = 1..G. The composite takes ~20 kernels (sin, cos, the
 * angle-addition recurrences per frequency, reshapes, a stack and a transpose); here one sin and one cos per
 * score in double, the same recurrences in double, each value written once in the output's order.
 */
import type { Tensor } from '../tf.js';
import { ioFor, type KernelArgs, type TensorInfo } from './js_io.js';
import { registerInferenceKernel, runKernel } from './inference.js';

export const FOURIER_FEATURES = 'VizooFourierFeatures';

function fourierFeaturesKernel({ inputs, backend, attrs }: KernelArgs<{ gridSize: number }>): TensorInfo {
  const [B, h, N] = inputs.scores!.shape as [number, number, number, number];
  const G = attrs.gridSize;
  const io = ioFor(backend);
  const out = io.outputs([[h, B * N, 2 * G * N]], false);
  const [a, y] = [io.read(inputs.scores!), out.views[0]!];
  const rowLen = 2 * G * N;
  for (let b = 0; b < B; b++) {
    for (let head = 0; head < h; head++) {
      for (let i = 0; i < N; i++) {
        const src = ((b * h + head) * N + i) * N;
        const dst = (head * B * N + b * N + i) * rowLen;
        for (let q = 0; q < N; q++) {
          const s1 = Math.sin(a[src + q]!);
          const c1 = Math.cos(a[src + q]!);
          // c_{m+1} = 2 c_1 c_m - c_{m-1}, s_{m+1} = 2 c_1 s_m - s_{m-1}, from c_0 = 1, s_0 = 0.
          let cPrev = 1;
          let sPrev = 0;
          let c = c1;
          let s = s1;
          for (let m = 0; m < G; m++) {
            y[dst + m * N + q] = c;
            y[dst + (G + m) * N + q] = s;
            const cNext = 2 * c1 * c - cPrev;
            const sNext = 2 * c1 * s - sPrev;
            cPrev = c;
            sPrev = s;
            c = cNext;
            s = sNext;
          }
        }
      }
    }
  }
  return out.done()[0]!;
}

registerInferenceKernel(FOURIER_FEATURES, fourierFeaturesKernel);

/** The row features of scores (B, h, N, N) for frequencies 1..gridSize (callers check `inferenceShortcut(FOURIER_FEATURES)`). */
export function fourierFeatures(scores: Tensor, gridSize: number): Tensor {
  return runKernel(FOURIER_FEATURES, { scores }, { gridSize });
}
