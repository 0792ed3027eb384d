/**
 * The last step of BEVANet's Comprehensive Kernel Selection (src/blocks/lska.ts, `CKS`) as one inference kernel
 * on the cpu and wasm backends: out = sum over branches b of a_b * sigmoid(c_b) * q_b, with a_b the branch
 * maps (B, H, W, C), c_b their channel logits (B, 1, 1, C) and q (B, H, W, branches) the spatial weights. The
 * composite is three sigmoids, two products per branch, a split and a sum (11 kernels per block).
 */
import type { Tensor } from '../tf.js';
import { ioFor, type KernelArgs, type TensorInfo } from './js_io.js';
import { registerInferenceKernel, runKernel } from './inference.js';

export const KERNEL_SELECTION = 'VizooKernelSelection';

function kernelSelectionKernel({ inputs, backend, attrs }: KernelArgs<{ branches: number }>): TensorInfo {
  const k = attrs.branches;
  const [B, H, W, C] = inputs.a0!.shape as [number, number, number, number];
  const io = ioFor(backend);
  const out = io.outputs([[B, H, W, C]], false);
  const maps = Array.from({ length: k }, (_, b) => io.read(inputs[`a${b}`]!));
  const logits = Array.from({ length: k }, (_, b) => io.read(inputs[`c${b}`]!));
  const [q, y] = [io.read(inputs.q!), out.views[0]!];
  const gate = new Float64Array(k * C);
  for (let n = 0; n < B; n++) {
    for (let b = 0; b < k; b++) for (let ch = 0; ch < C; ch++) gate[b * C + ch] = 1 / (1 + Math.exp(-logits[b]![n * C + ch]!));
    for (let p = n * H * W; p < (n + 1) * H * W; p++) {
      const row = p * C;
      for (let ch = 0; ch < C; ch++) {
        let s = 0;
        for (let b = 0; b < k; b++) s += maps[b]![row + ch]! * gate[b * C + ch]! * q[p * k + b]!;
        y[row + ch] = s;
      }
    }
  }
  return out.done()[0]!;
}

registerInferenceKernel(KERNEL_SELECTION, kernelSelectionKernel);

/**
 * sum_b maps[b] * sigmoid(logits[b]) * q[..., b] in one kernel (callers check `inferenceShortcut(KERNEL_SELECTION)`
 * and that maps are (B, H, W, C), logits (B, 1, 1, C) and q (B, H, W, maps.length), all float32).
 */
export function kernelSelection(maps: Tensor[], logits: Tensor[], q: Tensor): Tensor {
  const inputs: Record<string, Tensor> = { q };
  maps.forEach((m, b) => (inputs[`a${b}`] = m));
  logits.forEach((c, b) => (inputs[`c${b}`] = c));
  return runKernel(KERNEL_SELECTION, inputs, { branches: maps.length });
}
