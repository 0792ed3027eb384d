/**
 * Typed-array access for kernels written in JS and registered on the cpu and wasm backends: inputs read in
 * place (the wasm heap or the cpu backend's arrays), outputs allocated by the backend itself.
 */
export interface TensorInfo {
  dataId: object;
  shape: number[];
  dtype: string;
}

/** The minimal surfaces of the cpu and wasm backends the JS kernels use. */
interface CpuBackend {
  data: { get(id: object): { values: Float32Array } };
  makeTensorInfo(shape: number[], dtype: string, values: Float32Array): TensorInfo;
}
interface WasmBackend {
  makeOutput(shape: number[], dtype: string): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array;
}

/** What tfjs hands a kernel function: its inputs by name, the backend, and the attributes. */
export interface KernelArgs<A = Record<string, never>> {
  inputs: Record<string, TensorInfo | undefined>;
  backend: unknown;
  attrs: A;
}

export type Io = {
  read(t: TensorInfo): Float32Array;
  /**
   * Allocates outputs, then returns writable views and a finisher returning the tensors. The views are
   * zeroed unless `zero` is false (kernels that write every element).
   */
  outputs(shapes: number[][], zero?: boolean): { views: Float32Array[]; done(): TensorInfo[] };
};

export function ioFor(backend: unknown): Io {
  const wasm = backend as WasmBackend;
  if (typeof wasm.typedArrayFromHeap === 'function') {
    return {
      read: (t) => wasm.typedArrayFromHeap(t),
      outputs: (shapes, zero = true) => {
        // Allocate every output before taking any heap view: an allocation may grow (and detach) the heap.
        const infos = shapes.map((s) => wasm.makeOutput(s, 'float32'));
        const views = infos.map((i) => (zero ? wasm.typedArrayFromHeap(i).fill(0) : wasm.typedArrayFromHeap(i)));
        return { views, done: () => infos };
      },
    };
  }
  const cpu = backend as CpuBackend;
  return {
    read: (t) => cpu.data.get(t.dataId).values,
    outputs: (shapes) => {
      const views = shapes.map((s) => new Float32Array(s.reduce((p, v) => p * v, 1)));
      return { views, done: () => views.map((v, i) => cpu.makeTensorInfo(shapes[i]!, 'float32', v)) };
    },
  };
}
