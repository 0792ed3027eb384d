/**
 * GatherV2 for wasm as row copies on the wasm heap. tfjs-backend-wasm's own kernel computes every element's
 * source index on its own (about 18 ns per element here), which made gathers 80% of the composite
 * neighborhood attention (49 neighbor rows of every query), and so of every NAT/DiNAT ONNX trace. Gathered
 * slices are contiguous runs of `inner` elements, so each is one `copyWithin` on the heap. Cases outside
 * the plain form (batch dims, other dtypes) go to the stock kernel, which stays registered underneath.
 */
import { replaceWasmKernel } from './replace_stock.js';

interface TensorInfo {
  dataId: object;
  shape: number[];
  dtype: string;
}

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: string): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array;
}

/** Below this run length the per-row call costs more than an element loop. */
const MIN_ROW_COPY = 8;

export function registerWasmGatherRows(): void {
  replaceWasmKernel('GatherV2', (stock) => (args) => {
    const { x, indices } = args.inputs as unknown as { x: TensorInfo; indices: TensorInfo };
    const { axis: axisArg, batchDims } = args.attrs as unknown as { axis: number; batchDims: number };
    const axis = axisArg < 0 ? axisArg + x.shape.length : axisArg;
    const plain = batchDims === 0 && (x.dtype === 'float32' || x.dtype === 'int32') && indices.dtype === 'int32' && axis >= 0 && axis < x.shape.length;
    if (!plain) return stock(args);
    return gatherRows(args.backend as unknown as WasmBackendLike, x, indices, axis);
  });
}

function gatherRows(backend: WasmBackendLike, x: TensorInfo, indices: TensorInfo, axis: number): TensorInfo {
  const outer = x.shape.slice(0, axis).reduce((p, v) => p * v, 1);
  const dim = x.shape[axis]!;
  const inner = x.shape.slice(axis + 1).reduce((p, v) => p * v, 1);
  const shape = [...x.shape.slice(0, axis), ...indices.shape, ...x.shape.slice(axis + 1)];
  // Allocate first: an allocation may grow the heap and detach views taken before it.
  const out = backend.makeOutput(shape, x.dtype);
  const o = backend.typedArrayFromHeap({ ...out, shape, dtype: x.dtype });
  const src = backend.typedArrayFromHeap(x);
  const idx = backend.typedArrayFromHeap(indices) as Int32Array;
  const n = idx.length;
  for (let i = 0; i < n; i++) {
    const v = idx[i]!;
    if (v < 0 || v >= dim) throw new Error(`GatherV2: index ${v} is outside [0, ${dim - 1}]`);
  }
  // Views of one heap share its buffer, so copyWithin on the output view can read the input's bytes.
  const srcBase = src.byteOffset / 4;
  const outBase = o.byteOffset / 4;
  const heap = new (o.constructor as Float32ArrayConstructor)(o.buffer);
  for (let a = 0; a < outer; a++) {
    const from = srcBase + a * dim * inner;
    const to = outBase + a * n * inner;
    if (inner >= MIN_ROW_COPY) {
      for (let i = 0; i < n; i++) heap.copyWithin(to + i * inner, from + idx[i]! * inner, from + (idx[i]! + 1) * inner);
    } else {
      for (let i = 0; i < n; i++) {
        const s = from + idx[i]! * inner;
        const d = to + i * inner;
        for (let k = 0; k < inner; k++) heap[d + k] = heap[s + k]!;
      }
    }
  }
  return { ...out, shape, dtype: x.dtype };
}
