/**
 * Slice and SplitV for wasm as row copies on the wasm heap. tfjs-backend-wasm's Slice first copies the whole
 * input out of the heap (`readSync`) and then copies each row through a fresh subarray; splitting a
 * 56x56x512 map in two took 10 ms (ViG's gates and values, ~6 ns per element). Here a slice is its runs of
 * contiguous elements (the innermost axes it keeps whole, times the first one it cuts), each one
 * `copyWithin` inside the heap. Strings and other dtypes go to the stock kernels, registered underneath.
 */
import { tf } from '../tf.js';
import type { TensorInfo } from './js_io.js';
import { replaceWasmKernel } from './replace_stock.js';

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: string): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array;
}

const copyable = (x: TensorInfo) => (x.dtype === 'float32' || x.dtype === 'int32') && x.shape.length > 0;

export function registerWasmSliceRows(): void {
  replaceWasmKernel('Slice', (stock) => (args) => {
    const { x } = args.inputs as unknown as { x: TensorInfo };
    const { begin, size } = args.attrs as unknown as { begin: number | number[]; size?: number | number[] };
    if (!copyable(x)) return stock(args);
    const [b, s] = tf.slice_util.parseSliceParams(x as unknown as tf.TensorInfo, begin, size);
    return sliceRows(args.backend as unknown as WasmBackendLike, x, b, s);
  });
  replaceWasmKernel('SplitV', (stock) => (args) => {
    const { x } = args.inputs as unknown as { x: TensorInfo };
    const { numOrSizeSplits, axis } = args.attrs as unknown as { numOrSizeSplits: number | number[]; axis: number };
    if (!copyable(x)) return stock(args);
    const ax = tf.util.parseAxisParam(axis, x.shape)[0]!;
    const sizes = tf.backend_util.prepareSplitSize(x as unknown as tf.Tensor, numOrSizeSplits, ax);
    const begin = x.shape.map(() => 0);
    return sizes.map((n) => {
      const size = [...x.shape];
      size[ax] = n;
      const out = sliceRows(args.backend as unknown as WasmBackendLike, x, [...begin], size);
      begin[ax]! += n;
      return out;
    });
  });
}

/** x[begin : begin + size] as contiguous runs copied within the heap. */
function sliceRows(backend: WasmBackendLike, x: TensorInfo, begin: number[], size: number[]): TensorInfo {
  const out = backend.makeOutput(size, x.dtype);
  const count = size.reduce((p, v) => p * v, 1);
  if (count === 0) return out;
  // Allocate first: an allocation may grow the heap and detach views taken before it.
  const src = backend.typedArrayFromHeap(x);
  const dst = backend.typedArrayFromHeap(out);
  const rank = x.shape.length;
  const strides = Array.from({ length: rank }, (_, i) => x.shape.slice(i + 1).reduce((p, v) => p * v, 1));
  // The run: every axis after `cut` kept whole, axis `cut` the innermost one sliced.
  let cut = rank - 1;
  while (cut > 0 && size[cut] === x.shape[cut]) cut--;
  const run = size[cut]! * strides[cut]!;
  const heap = new (src.constructor as Float32ArrayConstructor)(src.buffer);
  const [srcBase, dstBase] = [src.byteOffset / 4, dst.byteOffset / 4];
  const rows = count / run;
  // Walk the outer index (axes before `cut`) like an odometer, tracking the source offset.
  const idx = new Array<number>(cut).fill(0);
  let from = srcBase + begin.reduce((p, v, i) => p + v * strides[i]!, 0);
  for (let r = 0, to = dstBase; r < rows; r++, to += run) {
    heap.copyWithin(to, from, from + run);
    for (let a = cut - 1; a >= 0; a--) {
      from += strides[a]!;
      if (++idx[a]! < size[a]!) break;
      from -= size[a]! * strides[a]!;
      idx[a] = 0;
    }
  }
  return out;
}
