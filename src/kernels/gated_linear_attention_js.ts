/**
 * The GLA scan (forward, reverse or bidirectional; see gated_linear_attention.ts) as one JS kernel for
 * inference on the cpu and wasm backends: per (batch, head) a dk x dv state in double precision walks the
 * sequence, S_t = diag(exp(g_t)) S_{t-1} + k_t v_t^T, o_t = scale q_t^T S_t. The chunk form's composite
 * runs about 150 kernels per call (pads, transposes, log-depth scan); this is one, and its work is
 * L * dk * dv per direction, small next to the projections around it. No gradient: while autograd
 * records, and on other backends, the chunk form runs.
 */
import type { Tensor } from '../tf.js';
import { ioFor, type KernelArgs, type TensorInfo } from './js_io.js';
import { registerInferenceKernel, runKernel } from './inference.js';
import { f32Bits, simdOn, type SimdOnHeap } from './simd/kernels.js';

export const GLA_SCAN = 'VizooGlaScan';

export type GlaJsMode = 'forward' | 'reverse' | 'bid';

interface Attrs {
  mode: GlaJsMode;
  scale: number;
}

function scanKernel({ inputs, backend, attrs }: KernelArgs<Attrs>): TensorInfo {
  const [b, h, l, dk] = inputs.q!.shape as [number, number, number, number];
  const dv = inputs.v!.shape[3]!;
  const io = ioFor(backend);
  const out = io.outputs([[b, h, l, dv]]);
  const simd = dk % 4 === 0 && dv % 4 === 0 ? simdOn(backend) : null;
  if (simd) return scanSimd(simd, inputs, out.done()[0]!, attrs);
  const q = io.read(inputs.q!);
  const k = io.read(inputs.k!);
  const v = io.read(inputs.v!);
  const gf = io.read(inputs.gf!);
  const gb = inputs.gb ? io.read(inputs.gb) : null;
  const o = out.views[0]!;
  const { mode } = attrs;
  // Bidirectional: the mean of the two directions.
  const scale = mode === 'bid' ? attrs.scale * 0.5 : attrs.scale;
  const s = new Float64Array(dk * dv);
  const acc = new Float64Array(dv);
  // One pass over the state per step: decay and update row a, and add q_a times it to the output, so the
  // state is read once, contiguously.
  const walk = (seq: number, g: Float32Array, reverse: boolean) => {
    s.fill(0);
    const kBase = seq * l * dk;
    const vBase = seq * l * dv;
    for (let i = 0; i < l; i++) {
      const t = reverse ? l - 1 - i : i;
      const kt = kBase + t * dk;
      const vt = vBase + t * dv;
      acc.fill(0);
      for (let a = 0, row = 0; a < dk; a++, row += dv) {
        const ka = k[kt + a]!;
        const qa = q[kt + a]!;
        const da = Math.exp(g[kt + a]!);
        for (let c = 0; c < dv; c++) {
          const next = s[row + c]! * da + ka * v[vt + c]!;
          s[row + c] = next;
          acc[c] += qa * next;
        }
      }
      for (let c = 0; c < dv; c++) o[vt + c]! += scale * acc[c]!;
    }
  };
  for (let seq = 0; seq < b * h; seq++) {
    walk(seq, gf, mode === 'reverse');
    if (mode === 'bid') walk(seq, gb!, true);
  }
  return out.done()[0]!;
}

/** The scan in WebAssembly SIMD on tfjs-wasm's heap (float32 state; the JS walk keeps a double one). */
function scanSimd(simd: SimdOnHeap, inputs: Record<string, TensorInfo | undefined>, o: TensorInfo, attrs: Attrs): TensorInfo {
  const [b, h, l, dk] = inputs.q!.shape as [number, number, number, number];
  const dv = inputs.v!.shape[3]!;
  const scale = attrs.mode === 'bid' ? attrs.scale * 0.5 : attrs.scale;
  const scaleBits = f32Bits(scale);
  const state = simd.malloc(4 * dk * dv);
  const decays = simd.malloc(4 * dk);
  try {
    const at = (t: TensorInfo) => simd.offset(t);
    const walk = (g: TensorInfo, reverse: boolean) =>
      simd.kernels.glaScan(at(inputs.q!), at(inputs.k!), at(inputs.v!), at(g), at(o), state, decays, b * h, l, dk, dv, reverse ? 1 : 0, scaleBits);
    walk(inputs.gf!, attrs.mode === 'reverse');
    if (attrs.mode === 'bid') walk(inputs.gb!, true);
  } finally {
    simd.free(state);
    simd.free(decays);
  }
  return o;
}

registerInferenceKernel(GLA_SCAN, scanKernel);

/** The scan as one kernel (callers check `inferenceShortcut(GLA_SCAN)`); gb only for 'bid'. */
export function glaScanJs(mode: GlaJsMode, scale: number, q: Tensor, k: Tensor, v: Tensor, gf: Tensor, gb?: Tensor): Tensor {
  const inputs: Record<string, Tensor> = { q, k, v, gf };
  if (gb) inputs.gb = gb;
  return runKernel(GLA_SCAN, inputs, { mode, scale });
}
