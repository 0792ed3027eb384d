// Comparing vizoo's single-kernel inference paths with the composites they replace.
import { expect } from 'vitest';
import { tf } from '../../src/index.js';
import { setFusedInference } from '../../src/kernels/inference.js';

/** Runs `f` with the inference kernels on and off; returns both results as arrays. */
export function bothPaths(f: () => tf.Tensor): { fused: Float32Array; composite: Float32Array } {
  try {
    setFusedInference(false);
    const c = f();
    setFusedInference(true);
    const y = f();
    const out = { fused: y.dataSync() as Float32Array, composite: c.dataSync() as Float32Array };
    tf.dispose([c, y]);
    return out;
  } finally {
    setFusedInference(true);
  }
}

export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Kernel names one call of `f` dispatches (custom-gradient scopes excluded). */
export async function kernelNames(f: () => tf.Tensor): Promise<string[]> {
  const info = await tf.profile(() => tf.dispose(f()));
  return info.kernels.map((k) => k.name).filter((n) => !n.endsWith('__op'));
}

/**
 * A model's forward of `x` with the inference kernels on or off: its output, and the kernels a second forward
 * dispatches (the first converts parameter layouts and makes derived tensors).
 */
export async function forwardRun(m: { forward(x: tf.Tensor): unknown }, x: tf.Tensor, fused: boolean): Promise<{ out: Float32Array; kernels: string[] }> {
  setFusedInference(fused);
  try {
    const y = m.forward(x) as tf.Tensor;
    const out = (await y.data()) as Float32Array;
    y.dispose();
    return { out, kernels: await kernelNames(() => m.forward(x) as tf.Tensor) };
  } finally {
    setFusedInference(true);
  }
}
