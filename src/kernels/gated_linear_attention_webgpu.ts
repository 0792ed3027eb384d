/**
 * The fused GLA scan as a WGSL program for tfjs-backend-webgpu (the role of fla's Triton
 * `fused_recurrent_gla` / ViG's `bid_fused_recurrent_gla`). One invocation per (batch*head, value
 * channel j) keeps column j of the dk x dv state in registers and walks the sequence; the
 * bidirectional mode runs the forward walk, then the backward walk on the same invocation, adding into
 * its own outputs (no races, one dispatch). fp32 throughout.
 *
 * Run through `backend.runWebGPUProgram` with a program object as the backend's own kernels are; only
 * used when the active backend is webgpu (see `glaWebgpuAvailable`).
 */
import { tf, type Tensor } from '../tf.js';

export type GlaScanMode = 'forward' | 'reverse' | 'bid';

interface WebGpuProgram {
  variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  getUserCode: () => string;
}

interface WebGpuBackendLike {
  runWebGPUProgram(program: WebGpuProgram, inputs: tf.TensorInfo[], outputDtype: 'float32'): tf.TensorInfo;
}

/** True when the active backend is webgpu and can run custom programs. */
export function glaWebgpuAvailable(): boolean {
  if (tf.getBackend() !== 'webgpu') return false;
  return typeof (tf.backend() as unknown as Partial<WebGpuBackendLike>).runWebGPUProgram === 'function';
}

const WORKGROUP = 64;

const f32 = (x: number) => {
  const s = Math.fround(x).toExponential();
  return s.includes('.') ? s : s.replace('e', '.0e');
};

function program(mode: GlaScanMode, scale: number, gh: number, dk: number, dv: number, outputShape: number[]): WebGpuProgram {
  const weight = scale * (mode === 'bid' ? 0.5 : 1);
  const variableNames = mode === 'bid' ? ['Q', 'K', 'V', 'GF', 'GB'] : ['Q', 'K', 'V', 'GF'];
  const walk = (reverse: boolean, gate: string, accumulate: boolean) => `
    for (var i = 0; i < ${dk}; i = i + 1) { s[i] = 0.0; }
    for (var step = 0; step < l; step = step + 1) {
      let t = ${reverse ? 'l - 1 - step' : 'step'};
      let row = g * l + t;
      let vj = V[row * ${dv} + j];
      var acc = 0.0;
      for (var i = 0; i < ${dk}; i = i + 1) {
        let e = row * ${dk} + i;
        s[i] = s[i] * exp(${gate}[e]) + K[e] * vj;
        acc = acc + Q[e] * s[i];
      }
      let o = row * ${dv} + j;
      result[o] = ${accumulate ? 'result[o] + ' : ''}acc * ${f32(weight)};
    }`;
  const body =
    mode === 'forward' ? walk(false, 'GF', false) : mode === 'reverse' ? walk(true, 'GF', false) : walk(false, 'GF', false) + walk(true, 'GB', true);
  return {
    variableNames,
    outputShape,
    // L and B*H come from the uniforms (the binding must be used anyway), so one shader serves all lengths.
    shaderKey: `vizoo_gla_${mode}_${dk}_${dv}_${f32(weight)}`,
    dispatchLayout: { x: outputShape.map((_, i) => i) },
    dispatch: [Math.ceil((gh * dv) / WORKGROUP), 1, 1],
    workgroupSize: [WORKGROUP, 1, 1],
    getUserCode: () => `
  fn main(index : i32) {
    let l = uniforms.outShape[2];
    if (index >= uniforms.outShape[0] * uniforms.outShape[1] * ${dv}) { return; }
    let g = index / ${dv};
    let j = index - g * ${dv};
    var s : array<f32, ${dk}>;
    ${body}
  }`,
  };
}

/**
 * Runs the fused scan on (B, H, L, D) float32 tensors resident on the webgpu backend: `gates` is
 * [g] for forward/reverse, [gFwd, gBwd] for bid. Returns (B, H, L, dv).
 */
export function runGlaWebgpu(mode: GlaScanMode, scale: number, q: Tensor, k: Tensor, v: Tensor, gates: Tensor[]): Tensor {
  if (!glaWebgpuAvailable()) throw new Error('the fused GLA kernel needs the webgpu backend');
  const [b, h, l, dk] = q.shape as number[];
  const dv = v.shape[3]!;
  const backend = tf.backend() as unknown as WebGpuBackendLike;
  const prog = program(mode, scale, b! * h!, dk!, dv, [b!, h!, l!, dv]);
  const info = backend.runWebGPUProgram(prog, [q, k, v, ...gates], 'float32');
  return tf.engine().makeTensorFromTensorInfo(info);
}
