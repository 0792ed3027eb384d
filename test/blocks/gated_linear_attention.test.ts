// The ViG GLA layer (and the SwiGLU MLPs) against a plain float64 TypeScript transcription of the equations
// (docs/families/vig.md#gates, #2-d-gating-locality-injection) at shapes and flags the fixtures do not use:
// batch 2, odd non-square grids, 4 heads, ViG-T flags with the eval /4, ViG-H's /2, a gate clamp, train-mode
// scaling.
import { describe, expect, it } from 'vitest';
import { tf } from '../../src/index.js';
import { GatedLinearAttention, type GatedLinearAttentionOptions, SwiGLUMlp, swigluHidden } from '../../src/blocks/gated_linear_attention.js';
import type { StateDict } from '../../src/hub/host_tensor.js';
import { bidReference, maxAbs, maxAbsDiff } from '../kernels/gla_reference.js';

const W = (sd: StateDict, k: string) => sd.get(k)!.data as Float32Array;
const silu = (x: number) => x / (1 + Math.exp(-x));
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const logsigmoid = (x: number) => (x < 0 ? x - Math.log1p(Math.exp(x)) : -Math.log1p(Math.exp(-x)));

/** y[n, o] = sum_i x[n, i] w[o, i] (+ b[o]). */
function linear(x: Float64Array, n: number, inF: number, w: Float32Array, outF: number, b?: Float32Array): Float64Array {
  const y = new Float64Array(n * outF);
  for (let r = 0; r < n; r++)
    for (let o = 0; o < outF; o++) {
      let acc = b ? b[o]! : 0;
      for (let i = 0; i < inF; i++) acc += x[r * inF + i]! * w[o * inF + i]!;
      y[r * outF + o] = acc;
    }
  return y;
}

function rmsNormRows(x: Float64Array, d: number, w: Float32Array, eps: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / d; r++) {
    let ms = 0;
    for (let i = 0; i < d; i++) ms += x[r * d + i]! ** 2;
    const inv = 1 / Math.sqrt(ms / d + eps);
    for (let i = 0; i < d; i++) y[r * d + i] = x[r * d + i]! * inv * w[i]!;
  }
  return y;
}

interface Flags {
  actInConv: boolean;
  outAct: boolean;
  scale: number;
  clampMin?: number;
}

/** The eval forward of docs/families/vig.md on one NHWC map, float64. */
function glaLayerReference(sd: StateDict, x: Float32Array, [b, h, w, c]: number[], heads: number, f: Flags): Float64Array {
  const K = c / 2;
  const dk = K / heads;
  const dv = c / heads;
  const L = h * w;
  const dwW = W(sd, 'in_proj.0.weight');
  // 1-3: depthwise 3x3, pad 1, no bias; SiLU iff use_act_in_conv.
  const xs = new Float64Array(b * L * c);
  for (let n = 0; n < b; n++)
    for (let i = 0; i < h; i++)
      for (let j = 0; j < w; j++)
        for (let ch = 0; ch < c; ch++) {
          let acc = 0;
          for (let di = -1; di <= 1; di++)
            for (let dj = -1; dj <= 1; dj++) {
              const y = i + di;
              const z = j + dj;
              if (y < 0 || y >= h || z < 0 || z >= w) continue;
              acc += x[((n * h + y) * w + z) * c + ch]! * dwW[ch * 9 + (di + 1) * 3 + (dj + 1)]!;
            }
          xs[((n * h + i) * w + j) * c + ch] = f.actInConv ? silu(acc) : acc;
        }
  const rows = b * L;
  const qkv = linear(xs, rows, c, W(sd, 'qkv_proj.weight'), 2 * K + c);
  const gk = linear(linear(xs, rows, c, W(sd, 'gk_proj.0.weight'), 16), rows, 16, W(sd, 'gk_proj.1.weight'), 2 * K, W(sd, 'gk_proj.1.bias')).map((z) => {
    const g = logsigmoid(z) / 16;
    return f.clampMin === undefined ? g : Math.max(g, f.clampMin);
  });
  // (B, L, heads*d) -> (B, heads, L, d), channel = head * d + i.
  const toHeads = (src: Float64Array, stride: number, off: number, d: number) => {
    const out = new Float64Array(b * heads * L * d);
    for (let n = 0; n < b; n++) for (let hd = 0; hd < heads; hd++) for (let t = 0; t < L; t++) for (let i = 0; i < d; i++) out[((n * heads + hd) * L + t) * d + i] = src[(n * L + t) * stride + off + hd * d + i]!;
    return out;
  };
  const o = bidReference(
    {
      shape: { b, h: heads, l: L, dk, dv },
      q: toHeads(qkv, 2 * K + c, 0, dk),
      k: toHeads(qkv, 2 * K + c, K, dk),
      v: toHeads(qkv, 2 * K + c, 2 * K, dv),
      gf: toHeads(gk, 2 * K, 0, dk),
      gb: toHeads(gk, 2 * K, K, dk),
    },
    dk ** -0.5,
  );
  // back to (B, L, heads, dv), times the extra eval scale
  const oT = new Float64Array(rows * c);
  for (let n = 0; n < b; n++) for (let hd = 0; hd < heads; hd++) for (let t = 0; t < L; t++) for (let i = 0; i < dv; i++) oT[(n * L + t) * c + hd * dv + i] = f.scale * o[((n * heads + hd) * L + t) * dv + i]!;
  const gNorm = rmsNormRows(oT, dv, W(sd, 'g_norm.weight'), 1e-6);
  const lNorm = rmsNormRows(xs, dv, W(sd, 'l_norm.weight'), 1e-6);
  const g = linear(xs, rows, c, W(sd, 'g_proj.weight'), c, W(sd, 'g_proj.bias')).map(sigmoid);
  const mixed = g.map((gi, i) => {
    const y = gi * gNorm[i]! + (1 - gi) * lNorm[i]!;
    return f.outAct ? silu(y) : y;
  });
  return linear(mixed, rows, c, W(sd, 'o_proj.weight'), c);
}

async function compare(shape: [number, number, number, number], heads: number, opts: GatedLinearAttentionOptions, flags: Flags, train = false): Promise<void> {
  const [b, h, w, c] = shape;
  const layer = new GatedLinearAttention(c, heads, opts).initialize(11);
  // Larger than init so that the gates, norms and mix all matter.
  for (const [, p] of layer.namedParameters()) p.assignTf(tf.tidy(() => tf.add(p.value, tf.randomNormal(p.value.shape, 0, 0.3, 'float32', 5))));
  // ... but small q, k, v, so that |o|^2 is near g_norm's eps and the output scale shows
  // (docs/families/vig.md#the-extra-halving-of-plain-vig).
  layer.qkv_proj.weight.assignTf(tf.tidy(() => tf.mul(layer.qkv_proj.weight.value, 0.02)));
  layer.train(train);
  const x = tf.randomNormal([b, h, w, c], 0, 1, 'float32', 12);
  const xData = x.dataSync() as Float32Array;
  const ours = layer.forward(x).dataSync();
  const ref = glaLayerReference(await layer.stateDict(), xData, shape, heads, flags);
  expect(maxAbsDiff(ours, ref)).toBeLessThan(2e-5 * Math.max(1, maxAbs(ref)));
  tf.dispose(x);
  layer.dispose();
}

describe('GatedLinearAttention layer', () => {
  it('ViG-T flags (SiLU in conv and out, eval /4): batch 2, 3x5 grid, 4 heads', () =>
    compare([2, 3, 5, 32], 4, { useActInConv: true, useOutAct: true, evalOutputScale: 0.5 }, { actInConv: true, outAct: true, scale: 0.5 }));

  it('ViG-H flags (no acts, /2): 7x2 grid, 2 heads, chunk boundary inside the sequence', () =>
    compare([1, 7, 2, 16], 2, { evalOutputScale: 1, impl: 'chunk' }, { actInConv: false, outAct: false, scale: 1 }));

  it('the recurrent implementation and a gate clamp give the same layer', () =>
    compare([1, 4, 4, 16], 2, { impl: 'recurrent', clampMin: -0.02, evalOutputScale: 0.5 }, { actInConv: false, outAct: false, scale: 0.5, clampMin: -0.02 }));

  it("train mode drops plain ViG's extra eval halving, as the official train branch", () =>
    compare([1, 3, 3, 16], 2, { evalOutputScale: 0.5 }, { actInConv: false, outAct: false, scale: 1 }, true));

  it('tokens and maps are the same computation', () => {
    const layer = new GatedLinearAttention(16, 2).initialize(1).eval();
    const x = tf.randomNormal([2, 3, 4, 16], 0, 1, 'float32', 2);
    const a = layer.forward(x).dataSync();
    const b = layer.forwardTokens(tf.reshape(x, [2, 12, 16]), [3, 4]).dataSync();
    expect(maxAbsDiff(a, b)).toBe(0);
    expect(() => layer.forwardTokens(tf.reshape(x, [2, 12, 16]), [4, 4])).toThrow(/4x4/);
  });

  it('rejects a value dim that differs from the model dim', () => {
    expect(() => new GatedLinearAttention(16, 2, { expandV: 2 })).toThrow(/value dim/);
  });
});

describe('SwiGLU MLPs', () => {
  it('hidden sizes: GLAMLP rounds to 256, gMlp to 32', () => {
    expect([192, 384, 768, 32].map((c) => swigluHidden(c, 256))).toEqual([512, 1024, 2048, 256]);
    expect([96, 192, 384, 768, 32, 16].map((c) => swigluHidden(c, 32))).toEqual([256, 512, 1024, 2048, 96, 64]);
  });

  it('silu(first half) * second half, then the down projection', async () => {
    const m = new SwiGLUMlp(3, 2, 4).initialize(4);
    const x = tf.tensor2d([0.3, -1.2, 0.8, 2, 0.1, -0.5], [2, 3]);
    const ours = m.forward(x).dataSync();
    const sd = await m.stateDict();
    const u = linear(Float64Array.from(x.dataSync()), 2, 3, W(sd, 'fc1.weight'), 4);
    const hid = new Float64Array(4);
    for (let r = 0; r < 2; r++) for (let i = 0; i < 2; i++) hid[r * 2 + i] = silu(u[r * 4 + i]!) * u[r * 4 + 2 + i]!;
    expect(maxAbsDiff(ours, linear(hid, 2, 2, W(sd, 'fc2.weight'), 4))).toBeLessThan(1e-6);
  });
});
