/**
 * Neighborhood attention in WGSL for tfjs-backend-webgpu: two programs run through the backend's
 * `runWebGPUProgram`, like tfjs's own kernels.
 * 1. logits (B, N, heads, K): one invocation per (query, head, slot): scaled q . k over head_dim, plus the RPB
 *    entry; masked slots get -1e30.
 * 2. output (B, N, heads, head_dim): one invocation per output element: softmax over the query's K logits
 *    (max, exp, sum recomputed locally, K is small) and the weighted sum of the neighbor values.
 * Neither materializes the (N, K, C) gathered keys/values of the composite. The neighbor and RPB index
 * tables are uploaded as int32 inputs from the host plan.
 */
import { tf } from '../tf.js';
import type { NeighborhoodPlan } from './neighborhood_plan.js';
import { NA_FORWARD } from './neighborhood_attention_js.js';

interface TensorInfo {
  dataId: object;
  shape: number[];
  dtype: string;
}

interface WebGpuProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  variableNames: string[];
  workgroupSize: [number, number, number];
  size: boolean;
  getUserCode(): string;
}

interface WebGpuBackend {
  runWebGPUProgram(program: WebGpuProgram, inputs: TensorInfo[], outputDtype: string): TensorInfo;
  makeTensorInfo(shape: number[], dtype: string, values: Int32Array): TensorInfo;
  disposeData(dataId: object): void;
}

const WORKGROUP = 64;

function program(outputShape: number[], variableNames: string[], key: string, body: string): WebGpuProgram {
  const size = outputShape.reduce((p, v) => p * v, 1);
  return {
    outputShape,
    shaderKey: key,
    dispatchLayout: { x: outputShape.map((_, i) => i) },
    dispatch: [Math.ceil(size / WORKGROUP), 1, 1],
    variableNames,
    workgroupSize: [WORKGROUP, 1, 1],
    size: true,
    getUserCode: () => body,
  };
}

/** f32 literal for WGSL. */
const f32 = (x: number) => {
  const s = Math.fround(x).toPrecision(9);
  return /[.e]/.test(s) ? s : `${s}.0`;
};

function logitsProgram(b: number, plan: NeighborhoodPlan, heads: number, d: number, scale: number, withRpb: boolean): WebGpuProgram {
  const kk = plan.numSlots;
  const nt = plan.numTokens;
  const names = ['Q', 'KEYS', 'NBR', ...(withRpb ? ['RPB', 'RPBIDX'] : [])];
  const body = `
    const NT : i32 = ${nt};
    const NH : i32 = ${heads};
    const HD : i32 = ${d};
    const NK : i32 = ${kk};
    const TS : i32 = ${plan.rpbSize};
    const SCALE : f32 = ${f32(scale)};
    fn main(index : i32) {
      if (index < uniforms.size) {
        let j = index % NK;
        let t1 = index / NK;
        let hh = t1 % NH;
        let t2 = t1 / NH;
        let n = t2 % NT;
        let b = t2 / NT;
        let nb = NBR[n * NK + j];
        var logit = -1.0e30;
        if (nb >= 0) {
          let qo = ((b * NT + n) * NH + hh) * HD;
          let ko = ((b * NT + nb) * NH + hh) * HD;
          var s = 0.0;
          for (var c = 0; c < HD; c++) {
            s = s + Q[qo + c] * SCALE * KEYS[ko + c];
          }
          ${withRpb ? 's = s + RPB[hh * TS + RPBIDX[n * NK + j]];' : ''}
          logit = s;
        }
        setOutputAtIndex(index, logit);
      }
    }`;
  return program([b, nt, heads, kk], names, `vizoo_na_logits_${b}_${nt}_${heads}_${d}_${kk}_${plan.rpbSize}_${f32(scale)}_${withRpb}`, body);
}

function outputProgram(b: number, plan: NeighborhoodPlan, heads: number, d: number): WebGpuProgram {
  const kk = plan.numSlots;
  const nt = plan.numTokens;
  const body = `
    const NT : i32 = ${nt};
    const NH : i32 = ${heads};
    const HD : i32 = ${d};
    const NK : i32 = ${kk};
    fn main(index : i32) {
      if (index < uniforms.size) {
        let c = index % HD;
        let t1 = index / HD;
        let hh = t1 % NH;
        let t2 = t1 / NH;
        let n = t2 % NT;
        let b = t2 / NT;
        let lo = ((b * NT + n) * NH + hh) * NK;
        var m = -3.4e38;
        for (var j = 0; j < NK; j++) {
          m = max(m, LOGITS[lo + j]);
        }
        var total = 0.0;
        var acc = 0.0;
        for (var j = 0; j < NK; j++) {
          let e = exp(LOGITS[lo + j] - m);
          total = total + e;
          let nb = NBR[n * NK + j];
          if (nb >= 0) {
            acc = acc + e * VALS[((b * NT + nb) * NH + hh) * HD + c];
          }
        }
        setOutputAtIndex(index, acc / total);
      }
    }`;
  return program([b, nt, heads, d], ['LOGITS', 'VALS', 'NBR'], `vizoo_na_out_${b}_${nt}_${heads}_${d}_${kk}`, body);
}

function forward({ inputs, backend, attrs }: { inputs: Record<string, TensorInfo>; backend: unknown; attrs: { plan: NeighborhoodPlan; scale: number } }): TensorInfo {
  const gpu = backend as WebGpuBackend;
  const { plan, scale } = attrs;
  const [b, , heads, d] = inputs.q!.shape as [number, number, number, number];
  const temps: TensorInfo[] = [];
  const nbr = gpu.makeTensorInfo([plan.neighbors.length], 'int32', plan.neighbors);
  temps.push(nbr);
  const logitInputs = [inputs.q!, inputs.k!, nbr];
  if (inputs.rpb) {
    const rpbIdx = gpu.makeTensorInfo([plan.rpbIndex!.length], 'int32', plan.rpbIndex!);
    temps.push(rpbIdx);
    logitInputs.push(inputs.rpb, rpbIdx);
  }
  const logits = gpu.runWebGPUProgram(logitsProgram(b, plan, heads, d, scale, !!inputs.rpb), logitInputs, 'float32');
  temps.push(logits);
  const out = gpu.runWebGPUProgram(outputProgram(b, plan, heads, d), [logits, inputs.v!, nbr], 'float32');
  for (const t of temps) gpu.disposeData(t.dataId);
  return out;
}

/** Registers the forward kernel for webgpu (its gradient is the composite VJP in tfjs ops). */
export function registerWebGpuKernels(): void {
  if (!tf.getKernel(NA_FORWARD, 'webgpu')) {
    tf.registerKernel({ kernelName: NA_FORWARD, backendName: 'webgpu', kernelFunc: forward as unknown as tf.KernelFunc });
  }
}
