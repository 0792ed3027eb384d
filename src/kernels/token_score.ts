/**
 * EET's token score (src/models/eet.ts) as one inference kernel on the cpu and wasm backends: for every
 * patch token n of every image, score = sum_h A[h, 0, n] r_h / (sum_h r_h + 1e-8) with r_h the norm of head h's
 * output for the token and A the attention (the CLS row). The composite is ten kernels per block (two
 * slices, square, sum, sqrt, sum, add, divide, multiply, sum); this reads each head output once, in double.
 */
import type { Tensor } from '../tf.js';
import { ioFor, type KernelArgs, type TensorInfo } from './js_io.js';
import { registerInferenceKernel, runKernel } from './inference.js';

export const TOKEN_SCORE = 'VizooTokenScore';

function tokenScoreKernel({ inputs, backend }: KernelArgs): TensorInfo {
  const [B, h, N, d] = inputs.heads!.shape as [number, number, number, number];
  const io = ioFor(backend);
  const out = io.outputs([[B, N - 1]], false);
  const [attn, heads, score] = [io.read(inputs.attn!), io.read(inputs.heads!), out.views[0]!];
  const r = new Float64Array(h);
  for (let b = 0; b < B; b++) {
    for (let n = 1; n < N; n++) {
      let total = 0;
      for (let k = 0; k < h; k++) {
        const at = ((b * h + k) * N + n) * d;
        let sq = 0;
        for (let i = at; i < at + d; i++) sq += heads[i]! * heads[i]!;
        r[k] = Math.sqrt(sq);
        total += r[k]!;
      }
      let s = 0;
      // A[b, k, 0, n]: the CLS query's row of head k.
      for (let k = 0; k < h; k++) s += attn[(b * h + k) * N * N + n]! * r[k]!;
      score[b * (N - 1) + n - 1] = s / (total + 1e-8);
    }
  }
  return out.done()[0]!;
}

registerInferenceKernel(TOKEN_SCORE, tokenScoreKernel);

/** attn (B, h, N, N) and head outputs (B, h, N, d) -> scores (B, N-1) of the tokens after CLS (callers check `inferenceShortcut(TOKEN_SCORE)`). */
export function tokenScore(attn: Tensor, heads: Tensor): Tensor {
  return runKernel(TOKEN_SCORE, { attn, heads });
}
