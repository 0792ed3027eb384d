// The WebAssembly SIMD kernels (src/kernels/simd): on a memory of their own against scalar references
// (plain and shared memory, as tfjs's threaded build has), and in tfjs-wasm against tfjs's own kernels.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Conv2d, tf, useBackend, wasmSimdStatus } from '../../src/index.js';
import { erf, setFusedInference } from '../../src/kernels/inference.js';
import { DEPTHWISE_SIMD } from '../../src/kernels/depthwise_simd.js';
import { DEPTHWISE_BIAS, DEPTHWISE_RELU, MATMUL_BIAS, MATMUL_COLUMNS_FIRST, MATMUL_RELU, f32Bits, simdKernelsFor } from '../../src/kernels/simd/kernels.js';
import { wasmSimdMatMulCount } from '../../src/kernels/matmul_simd.js';

const rand = (n: number, seed: number) => {
  let s = seed;
  return Float32Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1);
};

interface Conv {
  n: number; h: number; w: number; c: number; kh: number; kw: number;
  sh: number; sw: number; dh: number; dw: number; pt: number; pb: number; pl: number; pr: number;
}

const outLen = (len: number, k: number, s: number, d: number, before: number, after: number) => Math.floor((len + before + after - d * (k - 1) - 1) / s) + 1;

/** The definition, one output element at a time, in double. */
function depthwiseReference(x: Float32Array, w: Float32Array, b: Float32Array | null, p: Conv, relu: boolean): Float64Array {
  const oh = outLen(p.h, p.kh, p.sh, p.dh, p.pt, p.pb);
  const ow = outLen(p.w, p.kw, p.sw, p.dw, p.pl, p.pr);
  const y = new Float64Array(p.n * oh * ow * p.c);
  for (let n = 0; n < p.n; n++)
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++)
        for (let c = 0; c < p.c; c++) {
          let s = b ? b[c]! : 0;
          for (let ky = 0; ky < p.kh; ky++)
            for (let kx = 0; kx < p.kw; kx++) {
              const iy = oy * p.sh - p.pt + ky * p.dh;
              const ix = ox * p.sw - p.pl + kx * p.dw;
              if (iy >= 0 && iy < p.h && ix >= 0 && ix < p.w) s += x[((n * p.h + iy) * p.w + ix) * p.c + c]! * w[(ky * p.kw + kx) * p.c + c]!;
            }
          y[((n * oh + oy) * ow + ox) * p.c + c] = relu ? Math.max(s, 0) : s;
        }
  return y;
}

for (const shared of [false, true]) {
  describe(`SIMD kernels on a ${shared ? 'shared' : 'plain'} memory`, () => {
    const memory = shared ? new WebAssembly.Memory({ initial: 64, maximum: 256, shared: true } as WebAssembly.MemoryDescriptor) : new WebAssembly.Memory({ initial: 64 });
    const kernels = simdKernelsFor(memory)!;
    let top = 0;
    /** Copies `a` into the memory (16-byte aligned, after what is there) and returns its byte offset. */
    const put = (a: Float32Array) => {
      const at = top;
      new Float32Array(memory.buffer, at, a.length).set(a);
      top += Math.ceil((a.length * 4) / 16) * 16 + 16;
      return at;
    };

    it('instantiates on this engine', () => {
      expect(kernels).not.toBeNull();
      expect(simdKernelsFor(memory)).toBe(kernels); // once per memory
    });

    it('GELU is within 2e-6 of the exact erf form, 0 in the far negative tail and x in the far positive one', () => {
      top = 0;
      const n = 4108; // 1027 vectors: 256 iterations of four, then three one at a time
      const x = Float32Array.from({ length: n }, (_, i) => (i / n - 0.5) * 30);
      x.set([0, -0, 1e-30, -12, 12, 3.92, -3.93 * Math.SQRT2, 1e4, -1e4], 0);
      const src = put(x);
      const dst = put(new Float32Array(n).fill(NaN));
      kernels.gelu(src, dst, n * 4);
      const y = new Float32Array(memory.buffer, dst, n);
      for (let i = 0; i < n; i++) {
        const v = x[i]!;
        const exact = 0.5 * v * (1 + erf(v * Math.SQRT1_2));
        expect(Math.abs(y[i]! - exact)).toBeLessThanOrEqual(2e-6 + 1e-7 * Math.abs(v));
      }
      expect(Math.abs(y[3]!)).toBe(0);
      expect(y[4]).toBe(12);
      expect(Math.abs(y[8]!)).toBe(0);
      expect(y[7]).toBe(1e4);
    });

    it('per-channel kernels (affine with and without a ReLU floor, scaled residual, sums of squares) and add-ReLU equal their definitions', () => {
      top = 0;
      const [pixels, c] = [37, 12];
      const n = pixels * c;
      const [x, y, s] = [rand(n, 4), rand(n, 5), rand(2 * c, 6)];
      const [px, py, ps] = [put(x), put(y), put(s)];
      const out = put(new Float32Array(n).fill(NaN));
      const read = () => new Float32Array(memory.buffer, out, n);
      const expectEach = (f: (i: number, k: number) => number) => {
        const got = read();
        for (let i = 0; i < n; i++) expect(Math.abs(got[i]! - f(i, i % c))).toBeLessThan(1e-6);
      };
      for (const floor of [-Infinity, 0]) {
        kernels.channelAffine(px, ps, out, pixels, c, f32Bits(floor));
        expectEach((i, k) => Math.max(x[i]! * s[k]! + s[c + k]!, floor));
      }
      kernels.channelScaledAdd(px, py, ps, out, pixels, c);
      expectEach((i, k) => x[i]! + s[k]! * y[i]!);
      kernels.addRelu(px, py, out, n * 4);
      expectEach((i) => Math.max(x[i]! + y[i]!, 0));
      // Accumulates onto what is there.
      const acc = put(new Float32Array(c).fill(1));
      kernels.channelSumSquares(px, acc, pixels, c);
      const sums = new Float32Array(memory.buffer, acc, c);
      for (let k = 0; k < c; k++) {
        let ref = 1;
        for (let p = 0; p < pixels; p++) ref += x[p * c + k]! ** 2;
        expect(Math.abs(sums[k]! - ref)).toBeLessThan(1e-5 * ref);
      }
    });

    it('matmul with a bias row and a ReLU, in both loop orders, equals the definition (tails of 1-3 rows, 4 and 1-3 columns)', () => {
      for (const [batch, m, k, n] of [[1, 7, 5, 15], [2, 9, 3, 8], [1, 1, 17, 1], [1, 4, 1, 29], [2, 5, 6, 27], [1, 9, 7, 45]] as const) {
        top = 0;
        const [a, b, bias] = [rand(batch * m * k, 7), rand(batch * k * n, 8), rand(n, 9)];
        const [pa, pb, pbias] = [put(a), put(b), put(bias)];
        const pc = put(new Float32Array(batch * m * n));
        const scratch = put(new Float32Array(16 * k));
        for (const order of [0, MATMUL_COLUMNS_FIRST]) {
          for (const [withBias, relu] of [[false, false], [true, false], [true, true], [false, true]] as const) {
            new Float32Array(memory.buffer, pc, batch * m * n).fill(NaN);
            const flags = order | (withBias ? MATMUL_BIAS : 0) | (relu ? MATMUL_RELU : 0);
            kernels.matmul(pa, pb, pc, batch, m, k, n, m * k * 4, k * n * 4, withBias ? pbias : 0, flags, scratch);
            const c = new Float32Array(memory.buffer, pc, batch * m * n);
            for (let t = 0; t < batch; t++)
              for (let i = 0; i < m; i++)
                for (let j = 0; j < n; j++) {
                  let ref = withBias ? bias[j]! : 0;
                  for (let q = 0; q < k; q++) ref += a[(t * m + i) * k + q]! * b[(t * k + q) * n + j]!;
                  if (relu) ref = Math.max(ref, 0);
                  expect(Math.abs(c[(t * m + i) * n + j]! - ref)).toBeLessThan(1e-5);
                }
          }
        }
      }
    });

    const cases: [string, Conv, boolean, boolean][] = [
      ['3x3, padding 1, 20 channels (16 + 4)', { n: 1, h: 7, w: 9, c: 20, kh: 3, kw: 3, sh: 1, sw: 1, dh: 1, dw: 1, pt: 1, pb: 1, pl: 1, pr: 1 }, true, false],
      ['7x7 dilation 3 (LKA), batch 2, no bias, ReLU', { n: 2, h: 11, w: 6, c: 36, kh: 7, kw: 7, sh: 1, sw: 1, dh: 3, dw: 3, pt: 9, pb: 9, pl: 9, pr: 9 }, false, true],
      ['13x13 stride (2, 1) on a map smaller than the kernel', { n: 1, h: 5, w: 10, c: 68, kh: 13, kw: 13, sh: 2, sw: 1, dh: 1, dw: 1, pt: 6, pb: 6, pl: 6, pr: 6 }, true, true],
      ['5x3, stride (2, 3), dilation (2, 1), uneven padding', { n: 1, h: 9, w: 17, c: 4, kh: 5, kw: 3, sh: 2, sw: 3, dh: 2, dw: 1, pt: 3, pb: 1, pl: 0, pr: 2 }, true, false],
      ['9x9 on 2 channels (SOFT)', { n: 1, h: 8, w: 6, c: 2, kh: 9, kw: 9, sh: 1, sw: 1, dh: 1, dw: 1, pt: 4, pb: 4, pl: 4, pr: 4 }, true, true],
      ['3x3 on 23 channels (16 + 4 + 3 singles)', { n: 2, h: 5, w: 4, c: 23, kh: 3, kw: 3, sh: 1, sw: 2, dh: 1, dw: 1, pt: 1, pb: 1, pl: 1, pr: 1 }, true, false],
    ];
    for (const [name, p, bias, relu] of cases) {
      it(`depthwise conv ${name} equals the definition within 1e-5`, () => {
        top = 0;
        const x = rand(p.n * p.h * p.w * p.c, 1);
        const w = rand(p.kh * p.kw * p.c, 2);
        const b = bias ? rand(p.c, 3) : null;
        const ref = depthwiseReference(x, w, b, p, relu);
        const [px, pw, pb] = [put(x), put(w), b ? put(b) : 0];
        const py = put(new Float32Array(ref.length).fill(NaN));
        const oh = outLen(p.h, p.kh, p.sh, p.dh, p.pt, p.pb);
        const ow = outLen(p.w, p.kw, p.sw, p.dw, p.pl, p.pr);
        const flags = (bias ? DEPTHWISE_BIAS : 0) | (relu ? DEPTHWISE_RELU : 0);
        kernels.depthwiseConv2d(px, pw, pb, py, p.n, p.h, p.w, p.c, oh, ow, p.kh, p.kw, p.sh, p.sw, p.dh, p.dw, p.pt, p.pl, flags);
        const y = new Float32Array(memory.buffer, py, ref.length);
        let max = 0;
        for (let i = 0; i < ref.length; i++) max = Math.max(max, Number.isNaN(y[i]!) ? Infinity : Math.abs(y[i]! - ref[i]!));
        expect(max).toBeLessThan(1e-5);
      });
    }
  });
}

describe('SIMD depthwise conv in tfjs-wasm', () => {
  beforeAll(async () => {
    await useBackend('wasm');
  });

  it('the kernels are active on the wasm backend, and say why not elsewhere', async () => {
    expect(wasmSimdStatus()).toEqual({ active: true, reason: null });
    await useBackend('cpu');
    expect(wasmSimdStatus()).toEqual({ active: false, reason: 'the backend is cpu, not wasm' });
    await useBackend('wasm');
  });

  /** The module's forward with the inference kernels on, then off (tfjs's own kernels). */
  function both(conv: Conv2d, x: tf.Tensor, act?: 'relu'): [Float32Array, Float32Array] {
    const fused = conv.forward(x, act);
    setFusedInference(false);
    const composite = conv.forward(x, act);
    setFusedInference(true);
    const out: [Float32Array, Float32Array] = [fused.dataSync() as Float32Array, composite.dataSync() as Float32Array];
    tf.dispose([fused, composite]);
    return out;
  }

  const configs: [string, number, number, { stride?: number | [number, number]; padding?: number | [number, number]; dilation?: number | [number, number]; bias?: boolean }, number[]][] = [
    ['VAN 7x7 dilation 3', 24, 7, { padding: 9, dilation: 3 }, [1, 13, 10, 24]],
    ['UniRepLKNet 13x13 on a 7x5 map', 40, 13, { padding: 6 }, [2, 7, 5, 40]],
    ['stride 2 and dilation 2 together', 16, 5, { stride: 2, padding: 4, dilation: 2 }, [1, 15, 12, 16]],
    ['non-square kernel padding, no bias', 12, 3, { padding: [1, 0], stride: [1, 2], bias: false }, [1, 9, 14, 12]],
    ['6 channels (4 + 2 singles)', 6, 3, { padding: 1 }, [1, 5, 5, 6]],
  ];
  for (const [name, c, k, o, shape] of configs) {
    it(`${name}: one kernel, equal to tfjs's within 1e-5`, async () => {
      const conv = new Conv2d(c, c, k, { ...o, groups: c });
      const x = tf.randomNormal(shape, 0, 1, 'float32', 5);
      for (const act of [undefined, 'relu'] as const) {
        const [fused, composite] = both(conv, x, act);
        let max = 0;
        for (let i = 0; i < fused.length; i++) max = Math.max(max, Math.abs(fused[i]! - composite[i]!));
        expect(fused.length).toBe(composite.length);
        expect(max).toBeLessThan(1e-5);
      }
      const info = await tf.profile(() => tf.dispose(conv.forward(x)));
      expect(info.kernels.map((kk) => kk.name).filter((kk) => !kk.endsWith('__op'))).toEqual([DEPTHWISE_SIMD]);
      x.dispose();
      conv.dispose();
    });
  }

  it('a channel multiplier and recorded gradients keep tfjs kernels', async () => {
    const conv = new Conv2d(3, 6, 3, { padding: 1, groups: 3 }); // multiplier 2: not depthwise in vizoo's sense
    const x = tf.randomNormal([1, 5, 5, 3], 0, 1, 'float32', 6);
    const names = (await tf.profile(() => tf.dispose(conv.forward(x)))).kernels.map((kk) => kk.name);
    expect(names).not.toContain(DEPTHWISE_SIMD);
    const conv8 = new Conv2d(8, 8, 3, { padding: 1, groups: 8 });
    const x8 = tf.randomNormal([1, 5, 5, 8], 0, 1, 'float32', 7);
    const g = tf.grad((t: tf.Tensor) => tf.sum(conv8.forward(t)))(x8);
    expect(g.shape).toEqual([1, 5, 5, 8]);
    tf.dispose([x, x8, g]);
    conv.dispose();
    conv8.dispose();
  });
});

afterAll(async () => {
  await useBackend('wasm');
});

describe('stock kernels replaced on wasm (matrix products, 1x1 convs, FusedBatchNorm) against the kernels they wrap', () => {
  beforeAll(async () => {
    await useBackend('wasm');
  });

  /** f with the replacements on, then off (the stock kernel), as arrays; max difference and the shape. */
  function compare(f: () => tf.Tensor): { diff: number; shape: number[] } {
    const on = f();
    setFusedInference(false);
    const off = f();
    setFusedInference(true);
    expect(on.shape).toEqual(off.shape);
    const [a, b] = [on.dataSync(), off.dataSync()];
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    const shape = on.shape;
    tf.dispose([on, off]);
    return { diff, shape };
  }

  it('batched, transposed and broadcast matrix products equal the stock kernel within 1e-5', () => {
    const cases: [number[], number[], boolean, boolean, number[]][] = [
      [[2, 3, 5, 7], [2, 3, 7, 9], false, false, [2, 3, 5, 9]],
      [[2, 3, 7, 5], [2, 3, 9, 7], true, true, [2, 3, 5, 9]],
      [[3, 13, 6], [3, 11, 6], false, true, [3, 13, 11]], // attention's q k^T
      [[1, 6, 4], [6, 10], true, false, [1, 4, 10]], // one matrix, a transposed
      [[4, 6, 8], [8, 5], false, false, [4, 6, 5]], // b broadcast over a's batch
      [[6, 8], [3, 8, 5], false, false, [3, 6, 5]], // a broadcast over b's batch
      [[1, 1, 4, 6], [3, 6, 2], false, false, [1, 3, 4, 2]], // a broadcast the stock kernel handles
      [[2, 0, 4], [2, 4, 3], false, false, [2, 0, 3]],
    ];
    for (const [sa, sb, ta, tb, out] of cases) {
      const a = tf.randomNormal(sa, 0, 1, 'float32', 1);
      const b = tf.randomNormal(sb, 0, 1, 'float32', 2);
      const r = compare(() => tf.matMul(a, b, ta, tb));
      expect(r.shape).toEqual(out);
      expect(r.diff).toBeLessThan(1e-5);
      tf.dispose([a, b]);
    }
  });

  it('1x1 convs and single products (bias, ReLU) run in the SIMD matmul and equal the stock XNNPACK kernels within 1e-5', () => {
    const before = wasmSimdMatMulCount();
    let expected = 0;
    const x = tf.randomNormal([2, 5, 7, 13], 0, 1, 'float32', 11);
    const w = tf.randomNormal([1, 1, 13, 21], 0, 1, 'float32', 12);
    const bias = tf.randomNormal([21], 0, 1, 'float32', 13);
    for (const activation of ['linear', 'relu'] as const) {
      for (const b of [bias, undefined]) {
        expect(compare(() => tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w as tf.Tensor4D, strides: 1, pad: 'same', bias: b, activation })).diff).toBeLessThan(1e-5);
        expected++;
      }
    }
    expect(compare(() => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'valid')).diff).toBeLessThan(1e-5);
    expected++;
    // Left to the stock kernel: a stride, padding, other activations, a 3x3 filter.
    const w3 = tf.randomNormal([3, 3, 13, 4], 0, 1, 'float32', 14);
    expect(compare(() => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, 'valid')).shape).toEqual([2, 3, 4, 21]);
    expect(compare(() => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 1)).shape).toEqual([2, 7, 9, 21]);
    expect(compare(() => tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w as tf.Tensor4D, strides: 1, pad: 'valid', bias, activation: 'sigmoid' })).diff).toBeLessThan(1e-5);
    expect(compare(() => tf.conv2d(x as tf.Tensor4D, w3 as tf.Tensor4D, 1, 'same')).diff).toBeLessThan(1e-4);
    // A Linear: (rows, in) @ (in, out) + bias, then ReLU; and a single product with b transposed.
    const a = tf.randomNormal([37, 13], 0, 1, 'float32', 15);
    const wt = tf.randomNormal([21, 13], 0, 1, 'float32', 16);
    expect(compare(() => tf.fused.matMul({ a, b: tf.reshape(w, [13, 21]), bias, activation: 'relu' })).diff).toBeLessThan(1e-5);
    expect(compare(() => tf.matMul(a, wt, false, true)).shape).toEqual([37, 21]);
    expected += 2;
    // Under four rows a single product stays with XNNPACK, b transposed or not.
    const row = tf.slice(a, [0, 0], [3, 13]);
    expect(compare(() => tf.matMul(row, wt, false, true)).diff).toBeLessThan(1e-5);
    expect(compare(() => tf.fused.matMul({ a: row, b: tf.reshape(w, [13, 21]), bias })).diff).toBeLessThan(1e-5);
    row.dispose();
    expect(wasmSimdMatMulCount() - before).toBe(expected);
    tf.dispose([x, w, bias, w3, a, wt]);
  });

  it('eval batch norm equals the stock kernel within 1e-5, with and without affine parameters', () => {
    for (const c of [12, 6]) {
      const x = tf.randomNormal([2, 5, 3, c], 1, 2, 'float32', 3);
      const mean = tf.randomNormal([c], 0, 1, 'float32', 4);
      const variance = tf.randomUniform([c], 0.1, 3, 'float32', 5);
      const scale = tf.randomNormal([c], 1, 0.3, 'float32', 6);
      const offset = tf.randomNormal([c], 0, 0.3, 'float32', 7);
      for (const [s, o] of [[scale, offset], [undefined, undefined]] as const) {
        expect(compare(() => tf.batchNorm(x, mean, variance, o, s, 1e-5)).diff).toBeLessThan(1e-5);
      }
      tf.dispose([x, mean, variance, scale, offset]);
    }
  });
});

describe('Slice and SplitV on wasm as heap row copies', () => {
  beforeAll(async () => {
    await useBackend('wasm');
  });

  /** x[begin : begin + size] from the nested array, the definition. */
  function reference(x: tf.Tensor, begin: number[], size: number[]): number[] {
    const flat = Array.from(x.dataSync());
    const strides = x.shape.map((_, i) => x.shape.slice(i + 1).reduce((p, v) => p * v, 1));
    const out: number[] = [];
    const walk = (axis: number, offset: number) => {
      if (axis === x.shape.length) return void out.push(flat[offset]!);
      for (let i = 0; i < size[axis]!; i++) walk(axis + 1, offset + (begin[axis]! + i) * strides[axis]!);
    };
    walk(0, 0);
    return out;
  }

  it('slices of rank 1 to 6, contiguous or not, float32 and int32, equal the definition', () => {
    const cases: [number[], number[], number[]][] = [
      [[10], [3], [5]],
      [[4, 6], [1, 2], [2, 3]],
      [[1, 56, 9, 12], [0, 0, 0, 6], [1, 56, 9, 6]],
      [[2, 3, 4, 5], [1, 1, 0, 0], [1, 2, 4, 5]],
      [[2, 5, 2, 6, 2, 3], [0, 1, 1, 2, 0, 0], [2, 3, 1, 3, 1, 3]],
      [[3, 4], [0, 0], [3, 0]],
    ];
    for (const dtype of ['float32', 'int32'] as const) {
      for (const [shape, begin, size] of cases) {
        const n = shape.reduce((p, v) => p * v, 1);
        const x = tf.tensor(Array.from({ length: n }, (_, i) => i * 3 - 7), shape, dtype);
        const y = tf.slice(x, begin, size);
        expect(y.shape).toEqual(size);
        expect(y.dtype).toBe(dtype);
        expect(Array.from(y.dataSync())).toEqual(reference(x, begin, size));
        tf.dispose([x, y]);
      }
    }
  });

  it('split along any axis gives the pieces of the definition', () => {
    const x = tf.randomNormal([2, 7, 6, 10], 0, 1, 'float32', 9);
    for (const [axis, sizes] of [[3, [4, 4, 2]], [1, [3, 4]], [0, [1, 1]], [2, [6]]] as [number, number[]][]) {
      const pieces = tf.split(x, sizes, axis);
      let at = 0;
      for (const [i, p] of pieces.entries()) {
        const begin = [0, 0, 0, 0];
        const size = [...x.shape];
        begin[axis] = at;
        size[axis] = sizes[i]!;
        expect(Array.from(p.dataSync())).toEqual(reference(x, begin, size));
        at += sizes[i]!;
      }
      tf.dispose(pieces);
    }
    x.dispose();
  });
});
