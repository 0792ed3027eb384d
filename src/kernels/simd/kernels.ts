/**
 * WebAssembly SIMD kernels that run on tfjs-wasm's heap in place, for the two places where its own kernels
 * are slow on these models: exact-erf GELU (tfjs-wasm has no GELU; a JS loop costs ~18 ns per element, a
 * third of van_b0's forward) and depthwise convolutions with large or dilated kernels (tfjs-wasm runs
 * VAN's 7x7 dilation-3 and UniRepLKNet's 13x13 at ~1.7 GFLOP/s). The module is written by
 * ./assembler.ts at first use and instantiated once per heap; where WebAssembly SIMD is missing the
 * callers keep their other paths.
 */
import { FunctionWriter, type Local, assembleModule } from './assembler.js';

/**
 * erf(z) ~ z P(z^2) / Q(z^2) on [-4, 4]: degree 6 over degree 4 in z^2, fitted by weighted least squares with
 * Lawson reweighting (scripts/fit_erf.py reproduces them); max |error| 5.6e-8 in double, under float32's half-ulp near 1.
 */
export const ERF_P = [1.1283786782857148, 0.21399003657476698, 0.05243999716424655, 0.004295033301681666, 0.00015558473014274667, -1.990527500585204e-6, 1.9216644275843464e-8];
export const ERF_Q = [1.0, 0.5229713979400993, 0.1208187910530918, 0.015555209433426306, 0.0010985152507216429];
/** Beyond this |z| erf rounds to +-1 in float32 (1 - erf(3.925) < 2^-25). */
export const ERF_SATURATES = 3.925;

/** Horner's rule on the v128 local `s` with coefficients in v128 locals (lowest degree first). */
function polynomial(f: FunctionWriter, coef: Local[], s: Local): void {
  f.get(coef[coef.length - 1]!);
  for (let i = coef.length - 2; i >= 0; i--) f.get(s).fmul().get(coef[i]!).fadd();
}

/** A v128 local holding `x` in every lane, set where the function is at now (once, before its loops). */
function constant(f: FunctionWriter, x: number): Local {
  const l = f.local('v128');
  f.splat(x).set(l);
  return l;
}

/** gelu(src, dst, bytes): 0.5 x (1 + erf(x / sqrt 2)) over `bytes` (a multiple of 16) of float32. */
function geluFunction(): FunctionWriter {
  const f = new FunctionWriter('gelu', 3);
  const [src, dst, bytes] = f.params as [Local, Local, Local];
  const i = f.local('i32');
  const [v, z, s, e, h] = [f.local('v128'), f.local('v128'), f.local('v128'), f.local('v128'), f.local('v128')];
  const [p, q] = [ERF_P.map((c) => constant(f, c)), ERF_Q.map((c) => constant(f, c))];
  const [rsqrt2, lo, hi, signBit, one, saturates, half] = [Math.SQRT1_2, -4, 4, -0, 1, ERF_SATURATES, 0.5].map((c) => constant(f, c));
  f.for(i, 0, bytes, 16, () => {
    f.get(src).get(i).add().load().tee(v);
    f.get(rsqrt2).fmul().get(lo).fmax().get(hi).fmin().tee(z);
    f.get(z).fmul().set(s);
    // e = z P(s) / Q(s)
    f.get(z);
    polynomial(f, p, s);
    f.fmul();
    polynomial(f, q, s);
    f.fdiv().set(e);
    // where erf rounds to +-1, exactly +-1 (so GELU's far tail is exactly 0 or x)
    f.get(z).get(signBit).and().get(one).or();
    f.get(e);
    f.get(z).fabs().get(saturates).fge();
    f.bitselect().set(e);
    f.get(v).get(half).fmul().tee(h);
    f.get(h).get(e).fmul().fadd();
    f.set(s);
    f.get(dst).get(i).add().get(s).store();
  });
  return f;
}

/** Parameters of `depthwiseConv2d`, in order (all i32; pointers are byte offsets into the heap). */
export const DEPTHWISE_PARAMS = ['x', 'w', 'bias', 'y', 'n', 'h', 'w_', 'c', 'oh', 'ow', 'kh', 'kw', 'sh', 'sw', 'dh', 'dw', 'pt', 'pl', 'flags'] as const;
export const DEPTHWISE_BIAS = 1;
export const DEPTHWISE_RELU = 2;

/**
 * depthwiseConv2d: NHWC x (n, h, w, c), filter (kh, kw, c) (tfjs's (kh, kw, c, 1)), y (n, oh, ow, c), with
 * strides, dilations and zero padding before (pt, pl; after is implied by oh, ow). c must be a multiple of
 * 4. Per output pixel only the taps that land inside the image are visited (no padded copy); the channels
 * go 16 at a time (four accumulators) while they last, then 4 at a time.
 */
function depthwiseFunction(): FunctionWriter {
  const f = new FunctionWriter('depthwiseConv2d', DEPTHWISE_PARAMS.length);
  const p = Object.fromEntries(DEPTHWISE_PARAMS.map((name, i) => [name, f.params[i]!])) as Record<(typeof DEPTHWISE_PARAMS)[number], Local>;
  const i32 = () => f.local('i32');
  const [img, oy, ox, c, ky, kx, by, bx, ky0, ky1, kx0, kx1, xp, wp, yp, t] = Array.from({ length: 16 }, i32);
  const [pix, xstep, c16end, xImg] = Array.from({ length: 4 }, i32);
  const acc = [0, 1, 2, 3].map(() => f.local('v128'));

  /** first = ceil(-base / d) when base < 0 else 0; last = min(k, ceil((len - base) / d)): taps inside [0, len). */
  const tapRange = (base: Local, d: Local, len: Local, k: Local, first: Local, last: Local) => {
    f.i32(0).get(d).i32(1).sub().get(base).sub().get(d).div();
    f.i32(0);
    f.get(base).i32(0).ltS();
    f.select().set(first);
    f.get(len).get(base).sub().get(d).add().i32(1).sub().get(d).div().set(t);
    f.get(t).get(k).get(t).get(k).ltS().select().set(last);
  };

  const channels = (vectors: number, end: Local) => {
    f.for(c, c, end, 16 * vectors, () => {
      for (let j = 0; j < vectors; j++) f.splat(0).set(acc[j]!);
      f.get(p.flags).i32(DEPTHWISE_BIAS).and32();
      f.if(() => {
        for (let j = 0; j < vectors; j++) f.get(p.bias).get(c).add().load(16 * j).set(acc[j]!);
      });
      f.for(ky, ky0, ky1, 1, () => {
        // xp = image + ((by + ky dh) w + bx + kx0 dw) * pix + c; wp = w + (ky kw + kx0) * pix + c
        f.get(by).get(ky).get(p.dh).mul().add().get(p.w_).mul().get(bx).add().get(kx0).get(p.dw).mul().add();
        f.get(pix).mul().get(xImg).add().get(c).add().set(xp);
        f.get(ky).get(p.kw).mul().get(kx0).add().get(pix).mul().get(p.w).add().get(c).add().set(wp);
        f.for(kx, kx0, kx1, 1, () => {
          for (let j = 0; j < vectors; j++) f.get(acc[j]!).get(xp).load(16 * j).get(wp).load(16 * j).fmul().fadd().set(acc[j]!);
          f.inc(xp, xstep).inc(wp, pix);
        });
      });
      f.get(p.flags).i32(DEPTHWISE_RELU).and32();
      f.if(() => {
        for (let j = 0; j < vectors; j++) f.get(acc[j]!).splat(0).fmax().set(acc[j]!);
      });
      for (let j = 0; j < vectors; j++) f.get(yp).get(c).add().get(acc[j]!).store(16 * j);
    });
  };

  f.get(p.c).i32(4).mul().set(pix);
  f.get(pix).get(p.dw).mul().set(xstep);
  f.get(pix).i32(48).sub().set(c16end);
  f.get(p.x).set(xImg);
  f.get(p.y).set(yp);
  f.for(img, 0, p.n, 1, () => {
    f.for(oy, 0, p.oh, 1, () => {
      f.get(oy).get(p.sh).mul().get(p.pt).sub().set(by);
      tapRange(by, p.dh, p.h, p.kh, ky0, ky1);
      f.for(ox, 0, p.ow, 1, () => {
        f.get(ox).get(p.sw).mul().get(p.pl).sub().set(bx);
        tapRange(bx, p.dw, p.w_, p.kw, kx0, kx1);
        f.i32(0).set(c);
        channels(4, c16end);
        channels(1, pix);
        f.inc(yp, pix);
      });
    });
    f.get(p.h).get(p.w_).mul().get(pix).mul().get(xImg).add().set(xImg);
  });
  return f;
}

/**
 * matmul(a, b, c, batch, m, k, n, aStride, bStride): c[t] = a[t] (m x k) @ b[t] (k x n) for t < batch, all
 * row-major float32; aStride, bStride are the bytes between batches (0 broadcasts one matrix), c is dense.
 * Tiles of 4 rows x 8 columns keep eight accumulators in registers: per k, two vector loads of b's row,
 * four broadcast loads of a's column and eight multiply-adds. Row tails go one row at a time, column tails
 * 4 then 1 wide (lane 0 of a broadcast).
 */
function matmulFunction(): FunctionWriter {
  const f = new FunctionWriter('matmul', 9);
  const [a, b, c, batch, m, k, n, aStride, bStride] = f.params as Local[] as [Local, Local, Local, Local, Local, Local, Local, Local, Local];
  const i32 = () => f.local('i32');
  const [t, i, j, kk, ap, bp, cp, rowA, rowB, m4end, n8end, n4end] = Array.from({ length: 12 }, i32);
  const rowAx = [null, rowA, i32(), i32()] as const;
  const rowBx = [null, rowB, i32(), i32()] as const;
  const acc = Array.from({ length: 8 }, () => f.local('v128'));
  const [b0, b1, av] = [f.local('v128'), f.local('v128'), f.local('v128')];
  const rowOffset = (base: Local, r: number, step: typeof rowAx) => {
    f.get(base);
    if (r > 0) f.get(step[r]!).add();
  };

  const tile = (rows: number, width: 8 | 4 | 1) => {
    const vectors = width === 8 ? 2 : 1;
    for (let r = 0; r < rows; r++) for (let v = 0; v < vectors; v++) f.splat(0).set(acc[2 * r + v]!);
    // ap = a + i rowA; bp = b + 4 j
    f.get(i).get(rowA).mul().get(a).add().set(ap);
    f.get(j).i32(4).mul().get(b).add().set(bp);
    f.for(kk, 0, k, 1, () => {
      if (width === 1) f.get(bp).loadSplat().set(b0);
      else f.get(bp).load().set(b0);
      if (width === 8) f.get(bp).load(16).set(b1);
      for (let r = 0; r < rows; r++) {
        rowOffset(ap, r, rowAx);
        f.loadSplat().set(av);
        f.get(acc[2 * r]!).get(av).get(b0).fmul().fadd().set(acc[2 * r]!);
        if (width === 8) f.get(acc[2 * r + 1]!).get(av).get(b1).fmul().fadd().set(acc[2 * r + 1]!);
      }
      f.inc(ap, 4).inc(bp, rowB);
    });
    // cp = c + i rowB + 4 j (c's rows are n wide, as b's)
    f.get(i).get(rowB).mul().get(c).add().get(j).i32(4).mul().add().set(cp);
    for (let r = 0; r < rows; r++) {
      if (width === 1) {
        rowOffset(cp, r, rowBx);
        f.get(acc[2 * r]!).storeLane0();
        continue;
      }
      rowOffset(cp, r, rowBx);
      f.get(acc[2 * r]!).store();
      if (width === 8) {
        rowOffset(cp, r, rowBx);
        f.get(acc[2 * r + 1]!).store(16);
      }
    }
  };
  const columns = (rows: number) => {
    f.i32(0).set(j);
    f.for(j, j, n8end, 8, () => tile(rows, 8));
    f.for(j, j, n4end, 4, () => tile(rows, 4));
    f.for(j, j, n, 1, () => tile(rows, 1));
  };

  f.get(k).i32(4).mul().set(rowA);
  f.get(n).i32(4).mul().set(rowB);
  for (const r of [2, 3]) {
    f.get(rowA).i32(r).mul().set(rowAx[r]!);
    f.get(rowB).i32(r).mul().set(rowBx[r]!);
  }
  f.get(m).i32(3).sub().set(m4end);
  f.get(n).i32(7).sub().set(n8end);
  f.get(n).i32(3).sub().set(n4end);
  f.for(t, 0, batch, 1, () => {
    f.i32(0).set(i);
    f.for(i, i, m4end, 4, () => columns(4));
    f.for(i, i, m, 1, () => columns(1));
    f.inc(a, aStride).inc(b, bStride);
    f.get(m).get(rowB).mul().get(c).add().set(c);
  });
  return f;
}

/** transpose(src, dst, batch, rows, cols): dst[t] = src[t]^T for each (rows x cols) float32 matrix. */
function transposeFunction(): FunctionWriter {
  const f = new FunctionWriter('transpose', 5);
  const [src, dst, batch, rows, cols] = f.params as [Local, Local, Local, Local, Local];
  const [t, r, c, sp, dp, colStep] = Array.from({ length: 6 }, () => f.local('i32'));
  f.get(rows).i32(4).mul().set(colStep);
  f.get(src).set(sp);
  f.for(t, 0, batch, 1, () => {
    f.for(r, 0, rows, 1, () => {
      // dst row r of the transposed block starts at column r: dst + 4 r, stepping a column (rows floats).
      f.get(r).i32(4).mul().get(dst).add().set(dp);
      f.for(c, 0, cols, 1, () => {
        f.get(dp).get(sp).copy32();
        f.inc(sp, 4).inc(dp, colStep);
      });
    });
    f.get(rows).get(cols).mul().i32(4).mul().get(dst).add().set(dst);
  });
  return f;
}

/** channelAffine(x, coef, y, pixels, c): y = x scale + shift per channel (last axis, c a multiple of 4); coef = [scale (c), shift (c)]. */
function channelAffineFunction(): FunctionWriter {
  const f = new FunctionWriter('channelAffine', 5);
  const [x, coef, y, pixels, c] = f.params as [Local, Local, Local, Local, Local];
  const [p, ch, rowBytes, shiftAt] = Array.from({ length: 4 }, () => f.local('i32'));
  f.get(c).i32(4).mul().set(rowBytes);
  f.get(coef).get(rowBytes).add().set(shiftAt);
  f.for(p, 0, pixels, 1, () => {
    f.for(ch, 0, rowBytes, 16, () => {
      f.get(y).get(ch).add();
      f.get(x).get(ch).add().load();
      f.get(coef).get(ch).add().load().fmul();
      f.get(shiftAt).get(ch).add().load().fadd();
      f.store();
    });
    f.inc(x, rowBytes).inc(y, rowBytes);
  });
  return f;
}

/**
 * Appends exp of the v128 on the stack (each lane; inputs <= 0, as softmax's x - max): 2^n e^r with n =
 * round(x / ln 2), r = x - n ln 2 in two parts (Cody-Waite), e^r by its Taylor polynomial to degree 6
 * (|r| <= ln 2 / 2: relative error < 2e-7), 2^n built in the exponent bits. Below -87 the result is
 * e^-87 (~1.6e-38) instead of smaller: nothing next to a softmax's largest term, which is 1.
 */
function exp(f: FunctionWriter, x: Local, n: Local, r: Local): void {
  f.get(x).splat(-87).fmax().set(x);
  f.get(x).splat(Math.LOG2E).fmul().fnearest().set(n);
  // ln 2 = 0.693145751953125 (exact in float32 with trailing zeros) + 1.4286068203094172e-6
  f.get(x).get(n).splat(0.693145751953125).fmul().fsub().get(n).splat(1.4286068203094172e-6).fmul().fsub().set(r);
  f.splat(1 / 720);
  for (const c of [1 / 120, 1 / 24, 1 / 6, 1 / 2, 1, 1]) f.get(r).fmul().splat(c).fadd();
  f.get(n).truncToI32x4().splatI32x4(127).iadd().i32(23).ishl().fmul();
}

/**
 * neighborhoodAttention(q, k, v, rpb, nbr, rpbIdx, y, w, batch, tokens, heads, d, slots, rpbSize, scaleBits):
 * NATTEN's forward for every (batch, query token, head) from a neighborhood plan: q, k, v, y (batch, tokens,
 * heads, d) with d a multiple of 4; nbr (tokens x slots, i32) the key token of each slot or -1 where masked;
 * rpb (heads, rpbSize) and rpbIdx (tokens x slots, i32) the relative position bias, or rpb = 0 for none;
 * w scratch of slots rounded up to 4 floats, the part past `slots` set to -inf by the caller. Logits are
 * dot products over d in vectors, softmax runs four slots at a time, the weighted sum accumulates into y's row.
 */
function neighborhoodFunction(): FunctionWriter {
  const f = new FunctionWriter('neighborhoodAttention', 15);
  const [q, k, v, rpb, nbr, rpbIdx, y, w, batch, tokens, heads, d, slots, rpbSize, scaleBits] = f.params as Local[] as [Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local];
  const i32 = () => f.local('i32');
  const [t, n, h, j, c, rowBytes, dBytes, padded, nbrRow, key, qh, kh, vh, yh, kp] = Array.from({ length: 15 }, i32);
  const [scale, max, dot] = [f.local('f32'), f.local('f32'), f.local('f32')];
  const [acc, ex, en, er, sum, wj] = Array.from({ length: 6 }, () => f.local('v128'));
  const hsum = (x: Local) => f.get(x).lane(0).get(x).lane(1).addF32().get(x).lane(2).addF32().get(x).lane(3).addF32();
  const slotKey = () => f.get(nbr).get(nbrRow).add().get(j).i32(4).mul().add().loadI32().set(key);
  const wAt = () => f.get(w).get(j).i32(4).mul().add();

  f.get(scaleBits).reinterpretF32().set(scale);
  f.get(d).i32(4).mul().set(dBytes);
  f.get(heads).get(dBytes).mul().set(rowBytes);
  f.get(slots).i32(3).add().i32(-4).and32().set(padded);
  f.for(t, 0, batch, 1, () => {
    f.for(n, 0, tokens, 1, () => {
      f.get(n).get(slots).mul().i32(4).mul().set(nbrRow);
      f.for(h, 0, heads, 1, () => {
        // This (token, head)'s q and y rows, and where its head starts in a key's k and v rows.
        f.get(t).get(tokens).mul().get(n).add().get(rowBytes).mul().get(h).get(dBytes).mul().add().set(qh);
        f.get(qh).get(y).add().set(yh);
        f.get(qh).get(q).add().set(qh);
        f.get(t).get(tokens).mul().get(rowBytes).mul().get(h).get(dBytes).mul().add().set(kh);
        f.get(kh).get(v).add().set(vh);
        f.get(kh).get(k).add().set(kh);
        // Logits: w[j] = scale q . k[key] (+ rpb[h, rpbIdx[j]]), -inf where masked and in the padding.
        f.f32(-Infinity).set(max);
        f.for(j, 0, slots, 1, () => {
          slotKey();
          f.get(key).i32(0).ltS();
          f.ifElse(
            () => {
              wAt().f32(-Infinity).storeF32();
            },
            () => {
              f.get(key).get(rowBytes).mul().get(kh).add().set(kp);
              f.splat(0).set(acc);
              f.for(c, 0, dBytes, 16, () => {
                f.get(acc).get(qh).get(c).add().load().get(kp).get(c).add().load().fmul().fadd().set(acc);
              });
              hsum(acc).get(scale).mulF32().set(dot);
              f.get(rpb).eqz().eqz();
              f.if(() => {
                f.get(dot).get(rpbIdx).get(nbrRow).add().get(j).i32(4).mul().add().loadI32();
                f.get(h).get(rpbSize).mul().add().i32(4).mul().get(rpb).add().loadF32().addF32().set(dot);
              });
              wAt().get(dot).storeF32();
              f.get(max).get(dot).maxF32().set(max);
            },
          );
        });
        f.for(j, slots, padded, 1, () => {
          wAt().f32(-Infinity).storeF32();
        });
        // Softmax numerators four slots at a time, and their sum.
        f.splat(0).set(sum);
        f.get(max).splatF32().set(wj);
        f.for(j, 0, padded, 4, () => {
          wAt().load().get(wj).fsub().set(ex);
          wAt();
          exp(f, ex, en, er);
          f.tee(ex).store();
          f.get(sum).get(ex).fadd().set(sum);
        });
        // y row = sum over live slots of w[j] v[key], then divided by the sum.
        f.for(c, 0, dBytes, 16, () => {
          f.get(yh).get(c).add().splat(0).store();
        });
        f.for(j, 0, slots, 1, () => {
          slotKey();
          f.get(key).i32(0).geS();
          f.if(() => {
            wAt().loadSplat().set(wj);
            f.get(key).get(rowBytes).mul().get(vh).add().set(kp);
            f.for(c, 0, dBytes, 16, () => {
              f.get(yh).get(c).add();
              f.get(yh).get(c).add().load().get(wj).get(kp).get(c).add().load().fmul().fadd();
              f.store();
            });
          });
        });
        f.f32(1).get(sum).lane(0).get(sum).lane(1).addF32().get(sum).lane(2).addF32().get(sum).lane(3).addF32().divF32().splatF32().set(wj);
        f.for(c, 0, dBytes, 16, () => {
          f.get(yh).get(c).add();
          f.get(yh).get(c).add().load().get(wj).fmul();
          f.store();
        });
      });
    });
  });
  return f;
}

export interface SimdKernels {
  gelu(src: number, dst: number, bytes: number): void;
  depthwiseConv2d(...args: number[]): void;
  matmul(a: number, b: number, c: number, batch: number, m: number, k: number, n: number, aStride: number, bStride: number): void;
  transpose(src: number, dst: number, batch: number, rows: number, cols: number): void;
  channelAffine(x: number, coef: number, y: number, pixels: number, c: number): void;
  neighborhoodAttention(...args: number[]): void;
}

const instances = new WeakMap<WebAssembly.Memory, SimdKernels | null>();
let unavailable: string | null = null;

/** Why the SIMD kernels could not be made on this engine (null when they were, or were not tried yet). */
export function simdUnavailableReason(): string | null {
  return unavailable;
}

/** The kernels bound to `memory`, or null where WebAssembly SIMD (or a synchronous compile) is unavailable. */
export function simdKernelsFor(memory: WebAssembly.Memory): SimdKernels | null {
  if (instances.has(memory)) return instances.get(memory)!;
  let kernels: SimdKernels | null = null;
  try {
    const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
    const bytes = assembleModule([geluFunction(), depthwiseFunction(), matmulFunction(), transposeFunction(), channelAffineFunction(), neighborhoodFunction()], shared);
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
    kernels = instance.exports as unknown as SimdKernels;
  } catch (e) {
    unavailable = (e as Error).message;
    kernels = null;
  }
  instances.set(memory, kernels);
  return kernels;
}

/** The surface of tfjs-wasm's backend the SIMD kernels use: its heap and a tensor's byte offset in it. */
interface WasmBackendHeap {
  wasm?: { wasmMemory?: WebAssembly.Memory; asm?: { memory?: WebAssembly.Memory }; _malloc?(bytes: number): number; _free?(ptr: number): void };
  getMemoryOffset?(dataId: object): number;
}

/** The SIMD kernels on `backend`'s heap with a tensor-offset lookup, or null (not tfjs-wasm, or no SIMD). */
export interface SimdOnHeap {
  kernels: SimdKernels;
  /** A tensor's byte offset in the heap. */
  offset(t: { dataId: object }): number;
  /** Scratch space on the heap (free it with `free`). */
  malloc(bytes: number): number;
  free(ptr: number): void;
}

export function simdOn(backend: unknown): SimdOnHeap | null {
  const b = backend as WasmBackendHeap;
  // The threaded build imports its (shared) memory and keeps it on the module; the plain build exports it.
  const memory = b.wasm?.wasmMemory ?? b.wasm?.asm?.memory;
  const wasm = b.wasm;
  if (!memory || typeof b.getMemoryOffset !== 'function' || typeof wasm?._malloc !== 'function' || typeof wasm._free !== 'function') return null;
  const kernels = simdKernelsFor(memory);
  return kernels && { kernels, offset: (t) => b.getMemoryOffset!(t.dataId), malloc: (n) => wasm._malloc!(n) >>> 0, free: (p) => wasm._free!(p) };
}
