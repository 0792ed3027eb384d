/**
 * Elementwise SIMD kernels: exact-erf and tanh GELU, a per-channel affine map (inference batch norm), per-channel
 * sums of squares (GRN), and exp for softmaxes.
 */
import { FunctionWriter, type Local } from './assembler.js';

/**
 * erf(z) ~ z P(z^2) / Q(z^2) on [-4, 4]: degree 6 over degree 4 in z^2, fitted by weighted least squares with
 * Lawson reweighting (scripts/fit_erf.py reproduces them); max |error| 5.6e-8 in double, under float32's half-ulp near 1.
 */
export const ERF_P = [1.1283786782857148, 0.21399003657476698, 0.05243999716424655, 0.004295033301681666, 0.00015558473014274667, -1.990527500585204e-6, 1.9216644275843464e-8];
export const ERF_Q = [1.0, 0.5229713979400993, 0.1208187910530918, 0.015555209433426306, 0.0010985152507216429];
/** Beyond this |z| erf rounds to +-1 in float32 (1 - erf(3.925) < 2^-25). */
export const ERF_SATURATES = 3.925;

/** Pushes Horner's rule on the v128 local `s` with coefficients in v128 locals (lowest degree first). */
function polynomial(f: FunctionWriter, coef: Local[], s: Local): void {
  f.get(coef[coef.length - 1]!);
  const nothing = () => {};
  for (let i = coef.length - 2; i >= 0; i--) f.fma(nothing, () => f.get(s), () => f.get(coef[i]!));
}

/** A v128 local holding `x` in every lane, set where the function is at now (once, before its loops). */
function constant(f: FunctionWriter, x: number): Local {
  const l = f.local('v128');
  f.splat(x).set(l);
  return l;
}

/** Vectors per iteration of the GELU's main loop: four independent chains (1.9x the one-vector loop's speed). */
const GELU_VECTORS = 4;

/**
 * gelu(src, dst, bytes): 0.5 x (1 + erf(x / sqrt 2)) over `bytes` (a multiple of 16) of float32. Four vectors
 * per iteration, each step done for all four before the next, so their multiply-add chains overlap (the
 * polynomials are latency-bound one vector at a time); the last few vectors go one at a time.
 */
export function geluFunction(fma = false): FunctionWriter {
  const f = new FunctionWriter('gelu', 3, { fma });
  const [src, dst, bytes] = f.params;
  const [i, end] = [f.local('i32'), f.local('i32')];
  const lanes = Array.from({ length: GELU_VECTORS }, () => {
    const [v, z, s, num, den] = Array.from({ length: 5 }, () => f.local('v128'));
    return { v, z, s, num, den };
  });
  const [p, q] = [ERF_P.map((c) => constant(f, c)), ERF_Q.map((c) => constant(f, c))];
  const [rsqrt2, lo, hi, signBit, one, saturates, half] = [Math.SQRT1_2, -4, 4, -0, 1, ERF_SATURATES, 0.5].map((c) => constant(f, c));
  const vectors = (count: number) => {
    const used = lanes.slice(0, count);
    used.forEach(({ v, z, s }, u) => {
      f.get(src).get(i).add().load(16 * u).tee(v);
      f.get(rsqrt2).fmul().get(lo).fmax().get(hi).fmin().tee(z);
      f.get(z).fmul().set(s);
    });
    // erf(z) = z P(s) / Q(s)
    for (const { s, num } of used) {
      polynomial(f, p, s);
      f.set(num);
    }
    for (const { s, den } of used) {
      polynomial(f, q, s);
      f.set(den);
    }
    used.forEach(({ v, z, s, num, den }, u) => {
      f.get(z).get(num).fmul().get(den).fdiv().set(num);
      // where erf rounds to +-1, exactly +-1 (so GELU's far tail is exactly 0 or x)
      f.get(z).get(signBit).and().get(one).or();
      f.get(num);
      f.get(z).fabs().get(saturates).fge();
      f.bitselect().set(num);
      f.get(v).get(half).fmul().tee(s);
      f.get(s).get(num).fmul().fadd().set(s);
      f.get(dst).get(i).add().get(s).store(16 * u);
    });
  };
  f.get(bytes).i32(16 * (GELU_VECTORS - 1)).sub().set(end);
  f.for(i, 0, end, 16 * GELU_VECTORS, () => vectors(GELU_VECTORS));
  f.for(i, i, bytes, 16, () => vectors(1));
  return f;
}

/**
 * channelAffine(x, coef, y, pixels, c, floorBits): y = max(x scale + shift, floor) per channel (last axis, c a
 * multiple of 4); coef = [scale (c), shift (c)]; floor a float32's bits (-Infinity: none, 0: ReLU).
 */
export function channelAffineFunction(): FunctionWriter {
  const f = new FunctionWriter('channelAffine', 6);
  const [x, coef, y, pixels, c, floorBits] = f.params;
  const [p, ch, rowBytes, shiftAt] = Array.from({ length: 4 }, () => f.local('i32'));
  const floor = f.local('v128');
  f.get(floorBits).reinterpretF32().splatF32().set(floor);
  f.get(c).i32(4).mul().set(rowBytes);
  f.get(coef).get(rowBytes).add().set(shiftAt);
  f.for(p, 0, pixels, 1, () => {
    f.for(ch, 0, rowBytes, 16, () => {
      f.get(y).get(ch).add();
      f.get(x).get(ch).add().load();
      f.get(coef).get(ch).add().load().fmul();
      f.get(shiftAt).get(ch).add().load().fadd();
      f.get(floor).fmax();
      f.store();
    });
    f.inc(x, rowBytes).inc(y, rowBytes);
  });
  return f;
}

/** channelScaledAdd(x, y, s, dst, pixels, c): dst = x + s y with s per channel (last axis, c a multiple of 4): a layer-scaled residual. */
export function channelScaledAddFunction(): FunctionWriter {
  const f = new FunctionWriter('channelScaledAdd', 6);
  const [x, y, scale, dst, pixels, c] = f.params;
  const [p, ch, rowBytes] = Array.from({ length: 3 }, () => f.local('i32'));
  f.get(c).i32(4).mul().set(rowBytes);
  f.for(p, 0, pixels, 1, () => {
    f.for(ch, 0, rowBytes, 16, () => {
      f.get(dst).get(ch).add();
      f.get(x).get(ch).add().load();
      f.get(y).get(ch).add().load();
      f.get(scale).get(ch).add().load().fmul();
      f.fadd();
      f.store();
    });
    f.inc(x, rowBytes).inc(y, rowBytes).inc(dst, rowBytes);
  });
  return f;
}

/** addRelu(a, b, dst, bytes): dst = max(a + b, 0) over `bytes` (a multiple of 16) of float32: a residual sum and its ReLU. */
export function addReluFunction(): FunctionWriter {
  const f = new FunctionWriter('addRelu', 4);
  const [a, b, dst, bytes] = f.params;
  const i = f.local('i32');
  f.for(i, 0, bytes, 16, () => {
    f.get(dst).get(i).add();
    f.get(a).get(i).add().load();
    f.get(b).get(i).add().load();
    f.fadd().splat(0).fmax();
    f.store();
  });
  return f;
}

/** channelSumSquares(x, acc, pixels, c): acc[ch] += sum over pixels of x[p, ch]^2 (last axis, c a multiple of 4). */
export function channelSumSquaresFunction(): FunctionWriter {
  const f = new FunctionWriter('channelSumSquares', 4);
  const [x, acc, pixels, c] = f.params;
  const [p, ch, rowBytes] = Array.from({ length: 3 }, () => f.local('i32'));
  const v = f.local('v128');
  f.get(c).i32(4).mul().set(rowBytes);
  f.for(p, 0, pixels, 1, () => {
    f.for(ch, 0, rowBytes, 16, () => {
      f.get(acc).get(ch).add();
      f.get(x).get(ch).add().load().tee(v);
      f.get(v).fmul();
      f.get(acc).get(ch).add().load().fadd();
      f.store();
    });
    f.inc(x, rowBytes);
  });
  return f;
}

/**
 * Appends exp of the v128 local `x` (each lane, for x up to ~88; clobbers x): 2^n e^r with n = round(x / ln 2),
 * r = x - n ln 2 in two parts (Cody-Waite), e^r by its Taylor polynomial to degree 6 (|r| <= ln 2 / 2:
 * relative error < 2e-7), 2^n built in the exponent bits. Below -87 the result is e^-87 (~1.6e-38)
 * instead of smaller: nothing next to a softmax's largest term, which is 1.
 */
export function exp(f: FunctionWriter, x: Local, n: Local, r: Local): void {
  f.get(x).splat(-87).fmax().set(x);
  f.get(x).splat(Math.LOG2E).fmul().fnearest().set(n);
  // ln 2 = 0.693145751953125 (exact in float32 with trailing zeros) + 1.4286068203094172e-6
  f.get(x).get(n).splat(0.693145751953125).fmul().fsub().get(n).splat(1.4286068203094172e-6).fmul().fsub().set(r);
  f.splat(1 / 720);
  for (const c of [1 / 120, 1 / 24, 1 / 6, 1 / 2, 1, 1]) f.get(r).fmul().splat(c).fadd();
  f.get(n).truncToI32x4().splatI32x4(127).iadd().i32(23).ishl().fmul();
}

/**
 * geluTanh(src, dst, bytes): 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))), nn.GELU(approximate='tanh'),
 * with tanh(u) = 1 - 2 / (e^(2u) + 1) for u clamped to [-9, 9] (beyond, tanh is +-1 in float32).
 */
export function geluTanhFunction(): FunctionWriter {
  const f = new FunctionWriter('geluTanh', 3);
  const [src, dst, bytes] = f.params;
  const i = f.local('i32');
  const [v, u, n, r] = Array.from({ length: 4 }, () => f.local('v128'));
  f.for(i, 0, bytes, 16, () => {
    f.get(src).get(i).add().load().set(v);
    // 2u = 2 sqrt(2/pi) (x + 0.044715 x^3), clamped to [-18, 18]
    f.get(v).get(v).fmul().get(v).fmul().splat(0.044715).fmul().get(v).fadd();
    f.splat(2 * Math.sqrt(2 / Math.PI)).fmul().splat(-18).fmax().splat(18).fmin().set(u);
    f.get(dst).get(i).add();
    // 0.5 x (1 + tanh) = 0.5 x (2 - 2 / (e^(2u) + 1)) = x (1 - 1 / (e^(2u) + 1))
    f.get(v);
    f.get(v);
    exp(f, u, n, r);
    f.splat(1).fadd();
    f.fdiv().fsub();
    f.store();
  });
  return f;
}
