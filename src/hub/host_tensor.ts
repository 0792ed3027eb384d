/**
 * Host-side tensors: what weight files hold and what state dicts carry between files and modules.
 * Data keeps the file's own element type (F16/BF16 as raw 16-bit words, I64 as BigInt64Array), so a
 * read followed by a write is bit-exact; `toFloat32` converts when a module needs numbers.
 */
import { quote } from '../util/summary.js';

export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export type HostData =
  | Float64Array
  | Float32Array
  | Uint16Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array;

export interface HostTensor {
  dtype: DType;
  shape: number[];
  data: HostData;
}

/** Ordered name -> tensor map under official (PyTorch) key names and layouts. */
export type StateDict = Map<string, HostTensor>;

export const DTYPE_BYTES: Record<DType, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

export function isDType(s: string): s is DType {
  return Object.prototype.hasOwnProperty.call(DTYPE_BYTES, s);
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** An element array of the right class for `dtype` over `buffer` (no copy; little-endian): all of it, or `length` elements from `byteOffset`. */
export function typedData(dtype: DType, buffer: ArrayBuffer, byteOffset = 0, length?: number): HostData {
  switch (dtype) {
    case 'F64': return new Float64Array(buffer, byteOffset, length);
    case 'F32': return new Float32Array(buffer, byteOffset, length);
    case 'F16':
    case 'BF16': return new Uint16Array(buffer, byteOffset, length);
    case 'I64': return new BigInt64Array(buffer, byteOffset, length);
    case 'I32': return new Int32Array(buffer, byteOffset, length);
    case 'I16': return new Int16Array(buffer, byteOffset, length);
    case 'I8': return new Int8Array(buffer, byteOffset, length);
    case 'U8':
    case 'BOOL': return new Uint8Array(buffer, byteOffset, length);
  }
}

/** Allocates an element array of the right class for `dtype` over a copy of `bytes` (little-endian). */
export function dataFromBytes(dtype: DType, bytes: Uint8Array): HostData {
  return typedData(dtype, bytes.slice().buffer);
}

export function bytesOf(t: HostTensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Round-to-nearest-even float32 -> float16 bits. */
export function f32ToF16(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
  return sign | half;
}

export function bf16ToF32(h: number): number {
  u32[0] = h << 16;
  return f32[0]!;
}

/** Round-to-nearest-even float32 -> bfloat16 bits. */
export function f32ToBf16(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** The tensor's values as float32 (integers and 16-bit floats converted). */
export function toFloat32(t: HostTensor): Float32Array {
  const d = t.data;
  if (t.dtype === 'F32') return d as Float32Array;
  const out = new Float32Array(d.length);
  if (t.dtype === 'F16') for (let i = 0; i < d.length; i++) out[i] = f16ToF32((d as Uint16Array)[i]!);
  else if (t.dtype === 'BF16') for (let i = 0; i < d.length; i++) out[i] = bf16ToF32((d as Uint16Array)[i]!);
  else if (t.dtype === 'I64') for (let i = 0; i < d.length; i++) out[i] = Number((d as BigInt64Array)[i]!);
  else for (let i = 0; i < d.length; i++) out[i] = Number(d[i]!);
  return out;
}

/** A tensor whose values cannot be used as asked (an integer buffer beyond int32, rows a key map cannot split). */
export class TensorDataError extends Error {}

/** The tensor's values as int32; throws a TensorDataError if a value does not fit or is not an integer. */
export function toInt32(t: HostTensor, what = 'tensor'): Int32Array {
  if (t.dtype === 'I32') return t.data as Int32Array;
  const out = new Int32Array(t.data.length);
  const vals = t.dtype === 'I64' ? null : toFloat32(t);
  for (let i = 0; i < out.length; i++) {
    const v = vals ? vals[i]! : Number((t.data as BigInt64Array)[i]!);
    if (!Number.isInteger(v) || v > 2147483647 || v < -2147483648) {
      throw new TensorDataError(`${quote(what)} holds ${v} at index ${i}, which is not an int32 (vizoo keeps integer buffers as int32)`);
    }
    out[i] = v;
  }
  return out;
}

/** Builds a host tensor of `dtype` from numbers (converting and rounding as that dtype does). */
export function fromNumbers(dtype: DType, shape: number[], values: ArrayLike<number>): HostTensor {
  const n = numel(shape);
  if (values.length !== n) throw new Error(`expected ${n} values for shape [${shape}], got ${values.length}`);
  let data: HostData;
  switch (dtype) {
    case 'F64': data = Float64Array.from(values); break;
    case 'F32': data = Float32Array.from(values); break;
    case 'F16': data = Uint16Array.from(values, f32ToF16); break;
    case 'BF16': data = Uint16Array.from(values, f32ToBf16); break;
    case 'I64': data = BigInt64Array.from(Array.from(values, (v) => BigInt(Math.round(v)))); break;
    case 'I32': data = Int32Array.from(values); break;
    case 'I16': data = Int16Array.from(values); break;
    case 'I8': data = Int8Array.from(values); break;
    case 'U8': data = Uint8Array.from(values); break;
    case 'BOOL': data = Uint8Array.from(values, (v) => (v ? 1 : 0)); break;
  }
  return { dtype, shape: [...shape], data };
}

/**
 * Element offsets of a strided view (`size`, `stride` in elements, starting at `offset`), in row-major order
 * of `size`: `visit(i, off)` for the i-th element.
 */
export function walkStrided(size: number[], stride: number[], offset: number, visit: (i: number, off: number) => void): void {
  const rank = size.length;
  const n = size.reduce((a, b) => a * b, 1);
  const idx = new Array<number>(rank).fill(0);
  let off = offset;
  for (let i = 0; i < n; i++) {
    visit(i, off);
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]!++;
      off += stride[d]!;
      if (idx[d]! < size[d]!) break;
      off -= stride[d]! * size[d]!;
      idx[d] = 0;
    }
  }
}

/** Permutes the axes of a float32 host tensor (numpy transpose). */
export function permuteHost(t: HostTensor, perm: number[]): HostTensor {
  const src = toFloat32(t);
  const shape = perm.map((p) => t.shape[p]!);
  const rank = shape.length;
  const inStrides = new Array<number>(rank);
  for (let i = rank - 1, s = 1; i >= 0; i--) {
    inStrides[i] = s;
    s *= t.shape[i]!;
  }
  const out = new Float32Array(src.length);
  walkStrided(
    shape,
    perm.map((p) => inStrides[p]!),
    0,
    (o, off) => (out[o] = src[off]!),
  );
  return { dtype: 'F32', shape, data: out };
}

export const nchwToNhwcHost = (t: HostTensor): HostTensor => permuteHost(t, [0, 2, 3, 1]);
export const nhwcToNchwHost = (t: HostTensor): HostTensor => permuteHost(t, [0, 3, 1, 2]);
