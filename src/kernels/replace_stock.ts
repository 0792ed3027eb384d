/**
 * Replacing one of tfjs-wasm's own kernels with vizoo's: the replacement gets the stock kernel function and
 * hands it the cases it does not cover, so the stock kernel stays underneath (gather_rows.ts, slice_rows.ts,
 * matmul_simd.ts, batch_norm_simd.ts).
 */
import { tf } from '../tf.js';

type KernelArgs = Parameters<tf.KernelFunc>[0];
type KernelResult = ReturnType<tf.KernelFunc>;
/** vizoo's kernels build their own tensor-info objects (js_io.ts's TensorInfo): typed loosely here, cast once. */
type Replacement = (args: KernelArgs) => unknown;

const replaced = new Set<string>();

/** Registers `wrap(stock)` over the wasm backend's kernel `name`, once; nothing when wasm lacks the kernel. */
export function replaceWasmKernel(name: string, wrap: (stock: (args: KernelArgs) => KernelResult) => Replacement): void {
  if (replaced.has(name)) return;
  const stock = tf.getKernel(name, 'wasm');
  if (!stock) return;
  replaced.add(name);
  tf.unregisterKernel(name, 'wasm');
  tf.registerKernel({ ...stock, kernelFunc: wrap(stock.kernelFunc) as tf.KernelFunc });
}
