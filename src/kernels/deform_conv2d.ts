/**
 * Deformable convolution (DCNv1, Dai et al. 2017; DCNv2's modulation mask optional), NHWC, from tfjs ops
 * only: every backend runs it and tfjs autodiff gives the gradients for input, offsets, mask, weight and
 * bias (the input gradient goes through GatherV2's gradient, i.e. UnsortedSegmentSum).
 *
 * Semantics are those of mmcv/LITv2's CUDA kernel and torchvision.ops.deform_conv2d:
 * - offsets per output pixel in the layout (deformable group g, tap t = i*kw + j, [dy, dx]), i.e. channel
 *   g*2*kh*kw + 2t (+1 for dx);
 * - tap (i, j) of output (ho, wo) samples y = ho*sh - ph + i*dh + dy, x = wo*sw - pw + j*dw + dx;
 * - a sample with y or x outside (-1, H) / (-1, W) is 0; otherwise bilinear interpolation of the 4 integer
 *   neighbours, where a neighbour outside the image contributes 0 (weights are not renormalised);
 * - out = bias + sum over taps and input channels of weight * sample (* mask).
 *
 * Inference on cpu and wasm builds the sampled columns in one kernel (./deform_columns.ts) and multiplies
 * them by the weight in one more.
 */
import { tf, type Tensor, type Tensor4D } from '../tf.js';
import { type Pair, pair } from '../nn/functional.js';
import { inferenceShortcut, linearFused } from './inference.js';
import { DEFORM_COLUMNS, deformColumns } from './deform_columns.js';

export interface DeformConv2dOptions {
  stride?: number | Pair;
  padding?: number | Pair;
  dilation?: number | Pair;
  /** Deformable groups: input channels split into groups that share one offset field each. */
  deformGroups?: number;
  /** DCNv2 modulation, (B, Ho, Wo, deformGroups*kh*kw) in the layout (group, tap); none for DCNv1. */
  mask?: Tensor4D | null;
}

/**
 * table[rows] for float-valued row numbers. The rows depend on the offsets, so tfjs would backpropagate
 * into them through GatherV2's int32 index gradient and the comparison ops; they are piecewise constant,
 * so this op gives them a zero gradient and the table the scatter-add of dy (GatherV2's own gradient).
 */
const gatherRows = tf.customGrad(((table: Tensor, rows: Tensor, save: tf.GradSaveFunc) => {
  const idx = tf.cast(rows, 'int32');
  save([idx]);
  return {
    value: tf.gather(table, idx),
    gradFunc: (dy: Tensor | Tensor[], saved: Tensor[]) => [tf.unsortedSegmentSum(dy as Tensor, saved[0]! as tf.Tensor1D, table.shape[0]!), tf.zerosLike(rows)],
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (table: Tensor, rows: Tensor) => Tensor;

/** Output size of a (deformable) convolution along one axis. */
export function convOutSize(len: number, k: number, s: number, p: number, d: number): number {
  return Math.floor((len + 2 * p - d * (k - 1) - 1) / s) + 1;
}

/**
 * x (B, H, W, C); offset (B, Ho, Wo, 2*dg*kh*kw); weight HWIO (kh, kw, C, O); bias (O) or null.
 * Returns (B, Ho, Wo, O).
 */
export function deformConv2d(x: Tensor4D, offset: Tensor4D, weight: Tensor4D, bias: Tensor | null, opts: DeformConv2dOptions = {}): Tensor4D {
  const [sh, sw] = pair(opts.stride ?? 1);
  const [ph, pw] = pair(opts.padding ?? 0);
  const [dh, dw] = pair(opts.dilation ?? 1);
  const dg = opts.deformGroups ?? 1;
  const [B, H, W, C] = x.shape;
  const [kh, kw, cin, O] = weight.shape;
  if (cin !== C) throw new Error(`deformConv2d: weight expects ${cin} input channels, input has ${C}`);
  if (C % dg) throw new Error(`deformConv2d: ${C} channels are not divisible by ${dg} deformable groups`);
  const Ho = convOutSize(H, kh, sh, ph, dh);
  const Wo = convOutSize(W, kw, sw, pw, dw);
  if (Ho < 1 || Wo < 1) throw new Error(`deformConv2d: input ${H}x${W} is too small for kernel ${kh}x${kw}`);
  const K = kh * kw;
  const want = [B, Ho, Wo, 2 * dg * K];
  if (offset.shape.some((d, i) => d !== want[i])) throw new Error(`deformConv2d: offset shape [${offset.shape}] should be [${want}]`);
  if (opts.mask && opts.mask.shape.some((d, i) => d !== [B, Ho, Wo, dg * K][i])) {
    throw new Error(`deformConv2d: mask shape [${opts.mask.shape}] should be [${[B, Ho, Wo, dg * K]}]`);
  }
  const mask = opts.mask ?? null;
  if (inferenceShortcut(DEFORM_COLUMNS) && [x, offset, mask ?? x].every((t) => t.dtype === 'float32')) {
    return tf.tidy(() => {
      const cols = deformColumns(x, offset, mask, { kh, kw, sh, sw, ph, pw, dh, dw, dg });
      return tf.reshape(linearFused(cols, tf.reshape(weight, [1, K * C, O]), bias), [B, Ho, Wo, O]);
    });
  }
  // Flat gather indices are computed in float32: keep them exact.
  if (B * H * W * dg >= 2 ** 24) throw new Error('deformConv2d: input too large for one gather (B*H*W*deformGroups >= 2^24)');
  const Cg = C / dg;
  const P = Ho * Wo;

  return tf.tidy(() => {
    // Regular grid of every (output pixel, tap): (1, P, K, 1), in input pixel units.
    const gy = new Float32Array(P * K);
    const gx = new Float32Array(P * K);
    for (let ho = 0; ho < Ho; ho++) {
      for (let wo = 0; wo < Wo; wo++) {
        for (let i = 0; i < kh; i++) {
          for (let j = 0; j < kw; j++) {
            const n = (ho * Wo + wo) * K + i * kw + j;
            gy[n] = ho * sh - ph + i * dh;
            gx[n] = wo * sw - pw + j * dw;
          }
        }
      }
    }
    // Offsets (B, Ho, Wo, [g][t][dy,dx]) -> dy, dx of shape (B, P, K, dg).
    const off = tf.transpose(tf.reshape(offset, [B * P, dg, K, 2]), [0, 2, 1, 3]);
    const dy = tf.reshape(tf.slice(off, [0, 0, 0, 0], [-1, -1, -1, 1]), [B, P, K, dg]);
    const dx = tf.reshape(tf.slice(off, [0, 0, 0, 1], [-1, -1, -1, 1]), [B, P, K, dg]);
    const py = tf.add(tf.tensor(gy, [1, P, K, 1]), dy);
    const px = tf.add(tf.tensor(gx, [1, P, K, 1]), dx);

    // Masks use step() rather than comparisons: step has a (zero) gradient, comparisons have none, and
    // these tensors lie on the path from the offsets to the output.
    const between = (v: Tensor, lo: number, hi: number) => tf.mul(tf.step(tf.sub(v, lo)), tf.step(tf.sub(hi, v)));
    let inside = tf.mul(between(py, -1, H), between(px, -1, W));
    if (mask) inside = tf.mul(inside, tf.transpose(tf.reshape(mask, [B, P, dg, K]), [0, 1, 3, 2]));
    const y0 = tf.floor(py);
    const x0 = tf.floor(px);
    const ly = tf.sub(py, y0);
    const lx = tf.sub(px, x0);
    const hy = tf.sub(1, ly);
    const hx = tf.sub(1, lx);
    const y1 = tf.add(y0, 1);
    const x1 = tf.add(x0, 1);

    // Row of (b, y, x, g) in x viewed as (B*H*W*dg, Cg).
    const base = tf.add(
      tf.reshape(tf.mul(tf.range(0, B, 1, 'float32'), H * W * dg), [B, 1, 1, 1]),
      tf.reshape(tf.range(0, dg, 1, 'float32'), [1, 1, 1, dg]),
    );
    const corner = (yc: Tensor, xc: Tensor, wgt: Tensor): [Tensor, Tensor] => {
      const valid = tf.mul(between(yc, -0.5, H - 0.5), between(xc, -0.5, W - 0.5));
      const row = tf.add(base, tf.mul(tf.add(tf.mul(tf.clipByValue(yc, 0, H - 1), W), tf.clipByValue(xc, 0, W - 1)), dg));
      return [row, tf.mul(tf.mul(wgt, valid), inside)];
    };
    const cs = [corner(y0, x0, tf.mul(hy, hx)), corner(y0, x1, tf.mul(hy, lx)), corner(y1, x0, tf.mul(ly, hx)), corner(y1, x1, tf.mul(ly, lx))];
    // (B, P, K, dg, 4): one gather for all four corners.
    const rows = tf.reshape(tf.stack(cs.map((c) => c[0]), 4), [-1]);
    const weights = tf.reshape(tf.stack(cs.map((c) => c[1]), 4), [B * P * K * dg, 4, 1]);
    const samples = tf.reshape(gatherRows(tf.reshape(x, [B * H * W * dg, Cg]), rows), [B * P * K * dg, 4, Cg]);
    // Columns (B*P, K*C) with column t*C + g*Cg + c, matching the HWIO weight flattened to (kh*kw*C, O).
    const cols = tf.reshape(tf.sum(tf.mul(samples, weights), 1), [B * P, K * C]);
    let y = tf.matMul(cols, tf.reshape(weight, [K * C, O]));
    if (bias) y = tf.add(y, bias);
    return tf.reshape(y, [B, Ho, Wo, O]) as Tensor4D;
  });
}
