/**
 * Checkpoint readers at memory speed: materializing a 64 MiB tensor from a PyTorch checkpoint as a plain
 * contiguous copy, as a transposed view (a strided gather) and as a view repeating one element (stride 0,
 * filled rather than copied element by element), and reading a safetensors file of the same size.
 */
import { concat } from '../fuzz/bytes.js';
import { type ViewSpec, viewsCheckpoint } from '../fuzz/attacks.js';
import { parseTorchCheckpoint } from '../src/hub/pytorch.js';
import { parseSafetensors, serializeSafetensors } from '../src/hub/safetensors.js';
import type { BenchCase, BenchModule } from './types.js';

const N = 4096; // a 4096 x 4096 float32 tensor: 64 MiB
const floats = (n: number) => new Uint8Array(new Float32Array(n).map((_, i) => i % 1000).buffer);

function viewCase(name: string, view: ViewSpec, storageNumel: number): BenchCase {
  return {
    name: `pth view ${name} ${N}x${N} f32`,
    backends: ['cpu'],
    warmup: 1,
    iterations: 5,
    setup: async () => {
      const bytes = viewsCheckpoint([view], storageNumel, floats(storageNumel));
      return { run: async () => void parseTorchCheckpoint(bytes, 'bench.pth') };
    },
  };
}

const safetensorsCase: BenchCase = {
  name: `safetensors ${N}x${N} f32`,
  backends: ['cpu'],
  warmup: 1,
  iterations: 5,
  setup: async () => {
    const bytes = concat(serializeSafetensors({ w: { dtype: 'F32', shape: [N, N], data: new Float32Array(floats(N * N).buffer) } }));
    return { run: async () => void parseSafetensors(bytes, 'bench.safetensors') };
  },
};

export const readers: BenchModule = {
  benchmarks: [
    viewCase('contiguous', { name: 'w', offset: 0, size: [N, N], stride: [N, 1] }, N * N),
    viewCase('transposed', { name: 'w', offset: 0, size: [N, N], stride: [1, N] }, N * N),
    viewCase('stride-0', { name: 'w', offset: 0, size: [N, N], stride: [0, 0] }, 1),
    safetensorsCase,
  ],
  ratios: [
    { label: 'pth transposed view / contiguous copy', numerator: `pth view transposed ${N}x${N} f32`, denominator: `pth view contiguous ${N}x${N} f32` },
    { label: 'pth stride-0 view / contiguous copy', numerator: `pth view stride-0 ${N}x${N} f32`, denominator: `pth view contiguous ${N}x${N} f32` },
    { label: 'safetensors read / pth contiguous read', numerator: `safetensors ${N}x${N} f32`, denominator: `pth view contiguous ${N}x${N} f32` },
  ],
};
