/**
 * sin and cos to float32 accuracy on every backend. WGSL only promises an absolute error of 2^-11 for
 * sin/cos on [-pi, pi] (and GLSL less for large arguments), which learned Fourier attention cannot
 * afford; there this composite is used: Cody-Waite reduction by pi/2 with a three-part constant, then
 * Taylor polynomials on [-pi/4, pi/4] (truncation < 3e-9) and the quadrant's sign/swap, all in
 * elementwise tfjs ops that have gradients (round and step contribute zero, as their derivatives).
 * CPU backends, whose sin/cos are the C/JS libm ones, use tf.sin / tf.cos.
 */
import { tf, type Tensor } from '../tf.js';

const NATIVE = new Set(['cpu', 'wasm', 'tensorflow']);

// pi/2 = P1 + P2 + P3 with P1, P2 short enough that q * P1 and q * P2 are exact for |q| < 2^15.
const P1 = 1.5703125;
const P2 = 4.837512969970703125e-4;
const P3 = 7.54978995489188216e-8;

/** [sin x, cos x] by range reduction and polynomials (any backend). */
export function sinCosComposite(x: Tensor): [Tensor, Tensor] {
  return tf.tidy(() => {
    const q = tf.round(tf.mul(x, 2 / Math.PI));
    const r = tf.sub(tf.sub(tf.sub(x, tf.mul(q, P1)), tf.mul(q, P2)), tf.mul(q, P3));
    const r2 = tf.square(r);
    const poly = (coeffs: number[]) => coeffs.slice(0, -1).reduceRight<Tensor>((acc, c) => tf.add(tf.mul(acc, r2), c), tf.fill(r2.shape, coeffs[coeffs.length - 1]!));
    const fact = (n: number): number => (n <= 1 ? 1 : n * fact(n - 1));
    const sinR = tf.mul(r, poly([0, 1, 2, 3, 4, 5].map((k) => (-1) ** k / fact(2 * k + 1))));
    const cosR = poly([0, 1, 2, 3, 4, 5, 6].map((k) => (-1) ** k / fact(2 * k)));
    // Quadrant k = q mod 4 as 0/1 masks (step, not comparisons: comparisons have no gradient).
    const k = tf.sub(q, tf.mul(tf.floor(tf.div(q, 4)), 4));
    const band = (lo: number, hi: number) => tf.mul(tf.step(tf.sub(k, lo)), tf.step(tf.sub(hi, k)));
    const m0 = band(-0.5, 0.5);
    const m1 = band(0.5, 1.5);
    const m2 = band(1.5, 2.5);
    const m3 = band(2.5, 3.5);
    const even = tf.sub(m0, m2);
    const odd = tf.sub(m1, m3);
    return [tf.add(tf.mul(even, sinR), tf.mul(odd, cosR)), tf.sub(tf.mul(even, cosR), tf.mul(odd, sinR))];
  }) as [Tensor, Tensor];
}

/** [sin x, cos x], accurate in float32 on every backend. */
export function sinCos(x: Tensor): [Tensor, Tensor] {
  if (NATIVE.has(tf.getBackend())) return [tf.sin(x), tf.cos(x)];
  return sinCosComposite(x);
}
