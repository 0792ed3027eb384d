/**
 * EET's training objective (WhiteJiang/EET@19b8442 `train_model.py`, `loss.py`, `utils.py`;
 * docs/families/eet.md#training-objective) as pure functions: target codes from labels, teacher and student
 * losses, the hash distillation term and the discriminative-region mask. Differentiable parts use tfjs ops
 * only; the code generation runs on the host.
 */
import { tf, type Tensor } from '../tf.js';
import { type Pair, pair, stopGradient } from '../nn/functional.js';
import { Rng } from '../nn/rng.js';
import { crossEntropy, softTargetCrossEntropy } from './losses.js';

// ---------------------------------------------------------------------------------------------------------
// Small dense linear algebra (float64, row-major) for the code generation.

type Mat = { rows: number; cols: number; data: Float64Array };

const mat = (rows: number, cols: number, data = new Float64Array(rows * cols)): Mat => ({ rows, cols, data });

function matmul(a: Mat, b: Mat, transA = false, transB = false): Mat {
  const m = transA ? a.cols : a.rows;
  const k = transA ? a.rows : a.cols;
  const n = transB ? b.rows : b.cols;
  if ((transB ? b.cols : b.rows) !== k) throw new Error('matmul: inner dimensions differ');
  const out = mat(m, n);
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < k; p++) {
      const av = transA ? a.data[p * a.cols + i]! : a.data[i * a.cols + p]!;
      if (av === 0) continue;
      for (let j = 0; j < n; j++) out.data[i * n + j]! += av * (transB ? b.data[j * b.cols + p]! : b.data[p * b.cols + j]!);
    }
  }
  return out;
}

function addScaled(a: Mat, sa: number, b: Mat, sb: number): Mat {
  return mat(a.rows, a.cols, Float64Array.from(a.data, (v, i) => sa * v + sb * b.data[i]!));
}

/** Eigen-decomposition of a symmetric matrix by cyclic Jacobi rotations: A = Q diag(w) Q^T. */
export function symmetricEigen(a: Mat): { values: Float64Array; vectors: Mat } {
  const n = a.rows;
  const m = Float64Array.from(a.data);
  const q = mat(n, n);
  for (let i = 0; i < n; i++) q.data[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) off += m[i * n + j]! ** 2;
    if (off < 1e-22 * Math.max(1, m.reduce((s, v) => s + v * v, 0))) break;
    for (let p = 0; p < n; p++) {
      for (let r = p + 1; r < n; r++) {
        const apr = m[p * n + r]!;
        if (Math.abs(apr) < 1e-300) continue;
        const theta = (m[r * n + r]! - m[p * n + p]!) / (2 * apr);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = m[k * n + p]!;
          const mkr = m[k * n + r]!;
          m[k * n + p] = c * mkp - s * mkr;
          m[k * n + r] = s * mkp + c * mkr;
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p * n + k]!;
          const mrk = m[r * n + k]!;
          m[p * n + k] = c * mpk - s * mrk;
          m[r * n + k] = s * mpk + c * mrk;
        }
        for (let k = 0; k < n; k++) {
          const qkp = q.data[k * n + p]!;
          const qkr = q.data[k * n + r]!;
          q.data[k * n + p] = c * qkp - s * qkr;
          q.data[k * n + r] = s * qkp + c * qkr;
        }
      }
    }
  }
  return { values: Float64Array.from({ length: n }, (_, i) => m[i * n + i]!), vectors: q };
}

/** Q f(w) Q^T for a symmetric matrix, with f applied to eigenvalues (0 where |w| is below numpy's pinv cutoff). */
function spectralFunction(a: Mat, f: (w: number) => number): Mat {
  const { values, vectors: q } = symmetricEigen(a);
  const n = a.rows;
  const cutoff = 1e-15 * n * Math.max(...Array.from(values, Math.abs));
  const scaled = mat(n, n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) scaled.data[i * n + j] = q.data[i * n + j]! * (Math.abs(values[j]!) > cutoff ? f(values[j]!) : 0);
  return matmul(scaled, q, false, true);
}

/** Moore-Penrose pseudo-inverse of a symmetric matrix. */
export const pinvSymmetric = (a: Mat): Mat => spectralFunction(a, (w) => 1 / w);

/** U V^T of the SVD M = U S V^T (the orthogonal polar factor, numpy's `S1 @ S2`): M (M^T M)^(-1/2). */
export function polarFactor(m: Mat): Mat {
  return matmul(m, spectralFunction(matmul(m, m, true, false), (w) => 1 / Math.sqrt(Math.max(w, 0))));
}

export interface TrainCodesOptions {
  iterations?: number;
  sigma?: number;
  delta?: number;
  seed?: number;
}

/**
 * EET's fixed binary target codes (`utils.calc_train_codes`): from one-hot labels L (classes x n), alternate
 * B = sign(R V), Ul = L V^T pinv(V V^T), V = pinv(sigma Ul^T Ul + delta R^T R)(sigma Ul^T L + delta R^T B) and
 * the orthogonal R of the SVD of B V^T, 15 times, from random V and B. Returns (n, bits) codes in {-1, +1}.
 * The datasets feed one-hot labels (dataset/*.py encode_onehot); `labels` here are class indices.
 */
export function trainCodes(labels: ArrayLike<number>, numClasses: number, bits: number, opts: TrainCodesOptions = {}): Float32Array {
  const n = labels.length;
  const sigma = opts.sigma ?? 1;
  const delta = opts.delta ?? 1e-4;
  const rng = new Rng(opts.seed ?? 0);
  const l = mat(numClasses, n);
  for (let i = 0; i < n; i++) {
    const c = labels[i]!;
    if (!Number.isInteger(c) || c < 0 || c >= numClasses) throw new Error(`trainCodes: label ${c} at ${i} is not a class index in 0..${numClasses - 1}`);
    l.data[c * n + i] = 1;
  }
  let v = mat(bits, n, Float64Array.from({ length: bits * n }, () => rng.normal()));
  let b = mat(bits, n, Float64Array.from({ length: bits * n }, () => (rng.normal() >= 0 ? 1 : -1)));
  let r = polarFactor(matmul(b, v, false, true));
  for (let it = 0; it < (opts.iterations ?? 15); it++) {
    const rv = matmul(r, v);
    b = mat(bits, n, Float64Array.from(rv.data, (x) => (x >= 0 ? 1 : -1)));
    const ul = matmul(matmul(l, v, false, true), pinvSymmetric(matmul(v, v, false, true)));
    const lhs = addScaled(matmul(ul, ul, true, false), sigma, matmul(r, r, true, false), delta);
    const rhs = addScaled(matmul(ul, l, true, false), sigma, matmul(r, b, true, false), delta);
    v = matmul(pinvSymmetric(lhs), rhs);
    r = polarFactor(matmul(b, v, false, true));
  }
  const out = new Float32Array(n * bits);
  for (let i = 0; i < n; i++) for (let j = 0; j < bits; j++) out[i * bits + j] = b.data[j * n + i]! >= 0 ? 1 : -1;
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Losses (tfjs ops, differentiable).

/** nn.CrossEntropyLoss (mean over the batch) with class indices (B,) or probability targets (B, C, EET's one-hot labels). */
function classLoss(logits: Tensor, targets: Tensor): Tensor {
  return targets.rank === 1 ? crossEntropy(logits, targets) : softTargetCrossEntropy(logits, tf.cast(targets, 'float32'));
}

/** nn.MSELoss (mean over every element). */
export function mseLoss(a: Tensor, b: Tensor): Tensor {
  return tf.tidy(() => tf.mean(tf.squaredDifference(a, b)));
}

/**
 * `HashDistill`: mean(1 - cos(hash_student, stopgrad(hash_teacher))), cosine over the code axis
 * (F.cosine_similarity, eps 1e-8 on the norm product).
 */
export function hashDistillLoss(hashStudent: Tensor, hashTeacher: Tensor): Tensor {
  return tf.tidy(() => {
    const t = stopGradient(hashTeacher);
    const dot = tf.sum(tf.mul(hashStudent, t), -1);
    const norms = tf.mul(tf.norm(hashStudent, 'euclidean', -1), tf.norm(t, 'euclidean', -1));
    return tf.mean(tf.sub(1, tf.div(dot, tf.maximum(norms, 1e-8))));
  });
}

/** Teacher: CE(logits, y) + MSE(hash, B_y). `codes` are the batch's target codes (B, bits). */
export function eetTeacherLoss(out: { logits: Tensor; hash: Tensor }, labels: Tensor, codes: Tensor): Tensor {
  return tf.tidy(() => tf.add(classLoss(out.logits, labels), mseLoss(out.hash, codes)));
}

/**
 * Student: 0.1 [CE(logits, y) + CE(logits of the region-masked image, y)] + MSE(hash, B_y)
 * + HashDistill(hash, hash_teacher)  (train_model.py).
 */
export function eetStudentLoss(out: { logits: Tensor; hash: Tensor }, maskedLogits: Tensor, teacherHash: Tensor, labels: Tensor, codes: Tensor): Tensor {
  return tf.tidy(() => {
    const ce = tf.mul(tf.add(classLoss(out.logits, labels), classLoss(maskedLogits, labels)), 0.1);
    return tf.addN([ce, mseLoss(out.hash, codes), hashDistillLoss(out.hash, teacherHash)]);
  });
}

export interface RegionMaskOptions {
  /** Patches zeroed per image (the official `--w`, default 4). */
  count?: number;
  /**
   * Reproduce the official indexing quirk: the column-derived offset is written into the H axis
   * (`mask[:, x0:x1, y0:y1]` with x from idx % grid), so the zeroed squares are the patch grid transposed.
   * Default true (what EET trains with); false zeroes the patches the teacher actually scored.
   */
  transposed?: boolean;
}

/**
 * Discriminative region guidance: a (B, H, W, 1) {0, 1} mask that zeroes the `count` patches with the highest
 * teacher score (B, N) on the grid of `patchSize` pixel patches of an `imageSize` image (each a number or
 * [H, W]). Multiply the NHWC image by it. The official code hard-codes a 14x14 grid of 16px patches; on other
 * grids the transposed placement puts patch column c on rows [c*ph, (c+1)*ph) and row r on columns
 * [r*pw, (r+1)*pw), clipped to the image.
 */
export function regionMask(score: Tensor, imageSize: number | Pair, patchSize: number | Pair, opts: RegionMaskOptions = {}): Tensor {
  const [b, n] = score.shape as [number, number];
  const [ih, iw] = pair(imageSize);
  const [ph, pw] = pair(patchSize);
  const [gh, gw] = [Math.floor(ih / ph), Math.floor(iw / pw)];
  if (gh * gw !== n) throw new Error(`regionMask: ${n} scores do not form the ${gh}x${gw} patch grid of a ${ih}x${iw} image with ${ph}x${pw} patches`);
  // One zero-gradient op: ops inside a custom gradient are not taped, so the TopK (which has no gradient)
  // never meets the backward pass even though the score comes from trained parameters.
  const build = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
    const sc = args[0] as Tensor;
    const { indices } = tf.topk(sc, opts.count ?? 4);
    let hit = tf.reshape(tf.sum(tf.oneHot(indices, n), 1), [b, gh, gw]); // 1 where a patch is zeroed
    if (opts.transposed ?? true) hit = tf.transpose(hit, [0, 2, 1]);
    const [, rows, cols] = hit.shape as number[];
    const pixels = tf.reshape(tf.mul(tf.reshape(hit, [b, rows!, 1, cols!, 1]), tf.ones([1, 1, ph, 1, pw])), [b, rows! * ph, cols! * pw]);
    const [h, w] = [Math.min(ih, rows! * ph), Math.min(iw, cols! * pw)];
    const full = tf.pad(tf.slice(pixels, [0, 0, 0], [b, h, w]), [[0, 0], [0, ih - h], [0, iw - w]]);
    return { value: tf.expandDims(tf.sub(1, tf.minimum(full, 1)), -1), gradFunc: () => tf.zerosLike(sc) };
  });
  return tf.tidy(() => build(score));
}
