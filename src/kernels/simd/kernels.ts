/**
 * WebAssembly SIMD kernels that run on tfjs-wasm's heap in place, where its own kernels are slow on these
 * models (single thread, this machine): exact-erf GELU (tfjs-wasm has none; a JS loop took ~18 ns per
 * element, a third of van_b0's forward), depthwise convolutions with large or dilated kernels (~1.7 GFLOP/s
 * in tfjs-wasm), batched matrix products (its scalar loop, ~2 GFLOP/s, for everything but a single
 * matrix), batch norm (~2 ns per element) and neighborhood attention (a JS loop). The module is written by
 * ./assembler.ts at first use and instantiated once per heap; where WebAssembly SIMD is missing, the
 * callers keep their other paths (`simdUnavailableReason()` says why).
 */
import { tf } from '../../tf.js';
import { assembleModule, relaxedSimdSupported } from './assembler.js';
import { depthwiseFunction } from './depthwise.js';
import { addReluFunction, channelAffineFunction, channelScaledAddFunction, channelSumSquaresFunction, geluFunction, geluTanhFunction } from './elementwise.js';
import { matmulFunction, transposeFunction } from './matmul.js';
import { neighborhoodFunction } from './neighborhood.js';
import { glaScanFunction } from './gla.js';

export { DEPTHWISE_BIAS, DEPTHWISE_RELU } from './depthwise.js';
export { MATMUL_BIAS, MATMUL_COLUMNS_FIRST, MATMUL_RELU, matmulOrder } from './matmul.js';

export interface SimdKernels {
  gelu(src: number, dst: number, bytes: number): void;
  geluTanh(src: number, dst: number, bytes: number): void;
  depthwiseConv2d(...args: number[]): void;
  matmul(a: number, b: number, c: number, batch: number, m: number, k: number, n: number, aStride: number, bStride: number, bias: number, flags: number, scratch: number): void;
  transpose(src: number, dst: number, batch: number, rows: number, cols: number): void;
  channelAffine(x: number, coef: number, y: number, pixels: number, c: number, floorBits: number): void;
  channelScaledAdd(x: number, y: number, scale: number, dst: number, pixels: number, c: number): void;
  addRelu(a: number, b: number, dst: number, bytes: number): void;
  channelSumSquares(x: number, acc: number, pixels: number, c: number): void;
  neighborhoodAttention(...args: number[]): void;
  glaScan(...args: number[]): void;
}

/** A float32's bits as an i32, for the kernels' float parameters (WebAssembly calls from JS pass i32s here). */
export function f32Bits(x: number): number {
  return new Int32Array(new Float32Array([x]).buffer)[0]!;
}

const instances = new WeakMap<WebAssembly.Memory, SimdKernels | null>();
let unavailable: string | null = null;

/** Why the SIMD kernels could not be made on this engine (null when they were, or were not tried yet). */
export function simdUnavailableReason(): string | null {
  return unavailable;
}

function moduleBytes(memory: WebAssembly.Memory): { bytes: Uint8Array<ArrayBuffer>; imports: WebAssembly.Imports } {
  const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
  const fma = relaxedSimdSupported();
  const bytes = assembleModule([geluFunction(fma), geluTanhFunction(), depthwiseFunction(fma), matmulFunction(fma), transposeFunction(), channelAffineFunction(), channelScaledAddFunction(), addReluFunction(), channelSumSquaresFunction(), neighborhoodFunction(), glaScanFunction()], shared);
  return { bytes, imports: { env: { memory } } };
}

function failed(memory: WebAssembly.Memory, e: unknown): null {
  unavailable = (e as Error).message;
  instances.set(memory, null);
  return null;
}

/**
 * The kernels bound to `memory`, or null where WebAssembly SIMD is unavailable. Compiles synchronously the
 * first time unless `prepareSimdKernels` did it already (browsers refuse synchronous compiles of modules
 * over 4 KB on the main thread).
 */
export function simdKernelsFor(memory: WebAssembly.Memory): SimdKernels | null {
  if (instances.has(memory)) return instances.get(memory)!;
  try {
    const { bytes, imports } = moduleBytes(memory);
    const kernels = new WebAssembly.Instance(new WebAssembly.Module(bytes), imports).exports as unknown as SimdKernels;
    instances.set(memory, kernels);
    return kernels;
  } catch (e) {
    return failed(memory, e);
  }
}

/** Compiles and instantiates the kernels for `backend`'s heap asynchronously (the backend's activation calls it). */
export async function prepareSimdKernels(backend: unknown): Promise<void> {
  const memory = heapOf(backend as WasmBackendHeap);
  if (!memory || instances.has(memory)) return;
  try {
    const { bytes, imports } = moduleBytes(memory);
    const { instance } = await WebAssembly.instantiate(bytes, imports);
    instances.set(memory, instance.exports as unknown as SimdKernels);
  } catch (e) {
    failed(memory, e);
  }
}

/** The surface of tfjs-wasm's backend the SIMD kernels use: its heap and a tensor's byte offset in it. */
interface WasmBackendHeap {
  wasm?: { wasmMemory?: WebAssembly.Memory; asm?: { memory?: WebAssembly.Memory }; _malloc?(bytes: number): number; _free?(ptr: number): void };
  getMemoryOffset?(dataId: object): number;
}

/** The threaded build imports its (shared) memory and keeps it on the module; the plain build exports it. */
function heapOf(b: WasmBackendHeap): WebAssembly.Memory | undefined {
  return b.wasm?.wasmMemory ?? b.wasm?.asm?.memory;
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
  const memory = heapOf(b);
  const wasm = b.wasm;
  if (!memory || typeof b.getMemoryOffset !== 'function' || typeof wasm?._malloc !== 'function' || typeof wasm._free !== 'function') return null;
  const kernels = simdKernelsFor(memory);
  return kernels && { kernels, offset: (t) => b.getMemoryOffset!(t.dataId), malloc: (n) => wasm._malloc!(n) >>> 0, free: (p) => wasm._free!(p) };
}

/**
 * Whether vizoo's WebAssembly SIMD kernels run on the current backend (tfjs-wasm with WebAssembly SIMD), and
 * if not, why.
 */
export function wasmSimdStatus(): { active: boolean; reason: string | null } {
  const name = tf.getBackend();
  if (name !== 'wasm') return { active: false, reason: `the backend is ${name}, not wasm` };
  const active = simdOn(tf.backend()) !== null;
  return { active, reason: active ? null : (unavailable ?? 'the wasm backend exposes no heap') };
}
