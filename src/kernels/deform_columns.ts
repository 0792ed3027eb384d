/**
 * The sampled column matrix of a deformable convolution as one JS kernel, for inference on the cpu and wasm
 * backends: the composite in deform_conv2d.ts builds it from ~130 small kernels (grids, floors, clips,
 * stacks, a four-corner gather); this reads each input sample where it is needed and writes each column
 * once. Semantics are deform_conv2d.ts's (its header); coordinates and weights are computed in double
 * precision. No gradient: while autograd records, and on other backends, the composite runs.
 */
import type { Tensor } from '../tf.js';
import { ioFor, type KernelArgs, type TensorInfo } from './js_io.js';
import { registerInferenceKernel, runKernel } from './inference.js';

export const DEFORM_COLUMNS = 'VizooDeformColumns';

/** Kernel size, stride, padding and dilation as (rows, cols) pairs, and the deformable groups. */
export interface DeformGeometry {
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
  dh: number;
  dw: number;
  dg: number;
}

/**
 * cols[dst + c] for c < n: the four neighbours' channels, weighted. A function of its own: called per
 * sample, V8 optimises it within the first call (inline, the loop ran 4x slower for the first few calls).
 */
function blend(
  cols: Float32Array,
  dst: number,
  n: number,
  xs: Float32Array,
  // Each neighbour's first channel in xs, and its weight.
  p00: number,
  w00: number,
  p01: number,
  w01: number,
  p10: number,
  w10: number,
  p11: number,
  w11: number,
): void {
  for (let c = 0; c < n; c++) cols[dst + c] = w00 * xs[p00 + c]! + w01 * xs[p01 + c]! + w10 * xs[p10 + c]! + w11 * xs[p11 + c]!;
}

function columnsKernel({ inputs, backend, attrs }: KernelArgs<DeformGeometry>): TensorInfo {
  const { kh, kw, sh, sw, ph, pw, dh, dw, dg } = attrs;
  const [B, H, W, C] = inputs.x!.shape as [number, number, number, number];
  const [, Ho, Wo] = inputs.offset!.shape as [number, number, number, number];
  const K = kh * kw;
  const Cg = C / dg;
  const rowLen = K * C;
  const io = ioFor(backend);
  // Every column element is written below.
  const out = io.outputs([[1, B * Ho * Wo, rowLen]], false);
  const cols = out.views[0]!;
  const xs = io.read(inputs.x!);
  const offs = io.read(inputs.offset!);
  const mask = inputs.mask ? io.read(inputs.mask) : null;
  for (let b = 0, row = 0; b < B; b++) {
    const image = b * H * W * C;
    for (let ho = 0; ho < Ho; ho++) {
      for (let wo = 0; wo < Wo; wo++, row++) {
        const colRow = row * rowLen;
        for (let i = 0, t = 0; i < kh; i++) {
          for (let j = 0; j < kw; j++, t++) {
            for (let g = 0; g < dg; g++) {
              const dst = colRow + t * C + g * Cg;
              const n = row * dg * K + g * K + t;
              const y = ho * sh - ph + i * dh + offs[2 * n]!;
              const x = wo * sw - pw + j * dw + offs[2 * n + 1]!;
              if (!(y > -1 && y < H && x > -1 && x < W)) {
                cols.fill(0, dst, dst + Cg);
                continue;
              }
              const y0 = Math.floor(y);
              const x0 = Math.floor(x);
              const ly = y - y0;
              const lx = x - x0;
              const m = mask ? mask[n]! : 1;
              // Neighbours outside the image weigh 0 and read an inside one instead (one always is), so the
              // channel loop has no branches.
              const top = y0 >= 0;
              const bottom = y0 + 1 < H;
              const left = x0 >= 0;
              const right = x0 + 1 < W;
              const r0 = top ? y0 : y0 + 1;
              const r1 = bottom ? y0 + 1 : y0;
              const c0 = left ? x0 : x0 + 1;
              const c1 = right ? x0 + 1 : x0;
              const wy0 = top ? (1 - ly) * m : 0;
              const wy1 = bottom ? ly * m : 0;
              const wx0 = left ? 1 - lx : 0;
              const wx1 = right ? lx : 0;
              const w00 = wy0 * wx0;
              const w01 = wy0 * wx1;
              const w10 = wy1 * wx0;
              const w11 = wy1 * wx1;
              const src = image + g * Cg;
              const p00 = src + (r0 * W + c0) * C;
              const p01 = src + (r0 * W + c1) * C;
              const p10 = src + (r1 * W + c0) * C;
              const p11 = src + (r1 * W + c1) * C;
              blend(cols, dst, Cg, xs, p00, w00, p01, w01, p10, w10, p11, w11);
            }
          }
        }
      }
    }
  }
  return out.done()[0]!;
}

registerInferenceKernel(DEFORM_COLUMNS, columnsKernel);

/**
 * x (B, H, W, C), offset (B, Ho, Wo, 2*dg*kh*kw), mask (B, Ho, Wo, dg*kh*kw) or null -> columns
 * (1, B*Ho*Wo, kh*kw*C), column t*C + c for tap t, as the HWIO weight flattens. Shapes are the caller's to
 * check; callers check `inferenceShortcut(DEFORM_COLUMNS)`.
 */
export function deformColumns(x: Tensor, offset: Tensor, mask: Tensor | null, geometry: DeformGeometry): Tensor {
  const inputs: Record<string, Tensor> = { x, offset };
  if (mask) inputs.mask = mask;
  return runKernel(DEFORM_COLUMNS, inputs, { ...geometry });
}
