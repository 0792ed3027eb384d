/**
 * UnsortedSegmentSum for wasm (tfjs-backend-wasm lacks it; it is the gradient of gather, e.g. of relative
 * position bias tables): a direct typed-array loop over the inputs read from the wasm heap.
 */
import { tf } from '../tf.js';

interface WasmBackendLike {
  readSync(dataId: object): ArrayLike<number>;
  makeOutput(shape: number[], dtype: string): { dataId: object };
  typedArrayFromHeap(info: { dataId: object; shape: number[]; dtype: string }): Float32Array | Int32Array;
}

let registered = false;

export function registerWasmSegmentSum(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: 'UnsortedSegmentSum',
    backendName: 'wasm',
    kernelFunc: ({ inputs, attrs, backend }) => {
      const { x, segmentIds } = inputs as unknown as { x: tf.Tensor; segmentIds: tf.Tensor };
      const numSegments = (attrs as unknown as { numSegments: number }).numSegments;
      const b = backend as unknown as WasmBackendLike;
      const ids = b.readSync(segmentIds.dataId);
      const vals = b.readSync(x.dataId);
      const inner = x.size / Math.max(1, segmentIds.size);
      const shape = [numSegments, ...x.shape.slice(segmentIds.rank)];
      const out = b.makeOutput(shape, x.dtype);
      const o = b.typedArrayFromHeap({ ...out, shape, dtype: x.dtype });
      o.fill(0);
      for (let i = 0; i < ids.length; i++) {
        const s = ids[i]!;
        if (s < 0 || s >= numSegments) continue;
        for (let k = 0; k < inner; k++) o[s * inner + k]! += vals[i * inner + k]!;
      }
      return { ...out, shape, dtype: x.dtype } as never;
    },
  });
}
