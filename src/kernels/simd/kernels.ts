/**
 * WebAssembly SIMD kernels that run on tfjs-wasm's heap in place, where its own kernels are slow on these
 * models (single thread, this machine): exact-erf GELU (tfjs-wasm has none; a JS loop took ~18 ns per
 * element, a third of van_b0's forward), depthwise convolutions with large or dilated kernels (~1.7 GFLOP/s
 * in tfjs-wasm), batched matrix products (its scalar loop, ~2 GFLOP/s, for everything but a single
 * matrix), batch norm (~2 ns per element) and neighborhood attention (a JS loop). The module is written by
 * ./assembler.ts at first use and instantiated once per heap; where WebAssembly SIMD is missing, the
 * callers keep their other paths (`simdUnavailableReason()` says why).
 */
import { assembleModule } from './assembler.js';
import { depthwiseFunction } from './depthwise.js';
import { channelAffineFunction, geluFunction } from './elementwise.js';
import { matmulFunction, transposeFunction } from './matmul.js';
import { neighborhoodFunction } from './neighborhood.js';

export { DEPTHWISE_BIAS, DEPTHWISE_RELU } from './depthwise.js';

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
