// vizoo's wasm GatherV2 (row copies on the heap) against a plain loop over the definition, for every axis,
// row lengths on both sides of the copy threshold, int32 payloads whose bits are NaN patterns as floats,
// repeated and empty index lists, nested index shapes, and the cases it hands to tfjs's own kernel.
import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/tf.js';
import { useBackend } from '../../src/backend/index.js';

beforeAll(async () => {
  await useBackend('wasm');
});

/** gather(x, idx, axis) by its definition: out[a, i..., b] = x[a, idx[i...], b]. */
function naiveGather(x: ArrayLike<number>, shape: number[], idx: number[], axis: number): number[] {
  const outer = shape.slice(0, axis).reduce((p, v) => p * v, 1);
  const dim = shape[axis]!;
  const inner = shape.slice(axis + 1).reduce((p, v) => p * v, 1);
  const out: number[] = [];
  for (let a = 0; a < outer; a++) for (const i of idx) for (let b = 0; b < inner; b++) out.push(x[(a * dim + i) * inner + b]!);
  return out;
}

function values(n: number, dtype: 'float32' | 'int32'): number[] {
  // int32 values include bit patterns that are NaNs as float32 (0x7fc00001, -1, ...): a copy through floats would change them.
  return Array.from({ length: n }, (_, i) => (dtype === 'int32' ? [0x7fc00001, -1, -0x7fffffff, i * 7919][i % 4]! : Math.sin(i) * 100));
}

const CASES: { shape: number[]; axis: number; idx: number[]; idxShape?: number[] }[] = [
  { shape: [6, 5], axis: 0, idx: [5, 0, 0, 3] },
  { shape: [6, 5], axis: 1, idx: [4, 1] },
  { shape: [2, 9, 16], axis: 1, idx: [8, 8, 0, 3, 1, 2], idxShape: [2, 3] },
  { shape: [3, 4, 2, 8], axis: -2, idx: [1, 0, 1] },
  { shape: [2, 7, 40], axis: 1, idx: [] },
  { shape: [12], axis: 0, idx: [11, 0, 5] },
];

describe('wasm GatherV2 as row copies', () => {
  for (const c of CASES) {
    for (const dtype of ['float32', 'int32'] as const) {
      it(`x ${JSON.stringify(c.shape)} axis ${c.axis} indices ${JSON.stringify(c.idx)} (${dtype})`, async () => {
        const size = c.shape.reduce((p, v) => p * v, 1);
        const xv = values(size, dtype);
        const x = tf.tensor(xv, c.shape, dtype);
        const idx = tf.tensor(c.idx, c.idxShape ?? [c.idx.length], 'int32');
        const y = tf.gather(x, idx, c.axis);
        const axis = c.axis < 0 ? c.axis + c.shape.length : c.axis;
        const want = naiveGather(dtype === 'int32' ? Int32Array.from(xv) : Float32Array.from(xv), c.shape, c.idx, axis);
        expect(y.shape).toEqual([...c.shape.slice(0, axis), ...(c.idxShape ?? [c.idx.length]), ...c.shape.slice(axis + 1)]);
        expect(Array.from(await y.data())).toEqual(want);
        tf.dispose([x, idx, y]);
      });
    }
  }

  it('refuses an index outside the axis', () => {
    const x = tf.zeros([4, 16]);
    expect(() => tf.gather(x, tf.tensor1d([1, 4], 'int32'), 0)).toThrow(/index 4 is outside \[0, 3\]/);
    x.dispose();
  });

  it('leaves batched gathers to tfjs (same result as its definition)', async () => {
    const x = tf.tensor(values(2 * 3 * 4, 'float32'), [2, 3, 4]);
    const idx = tf.tensor2d([[2, 0], [1, 1]], [2, 2], 'int32');
    const y = tf.gather(x, idx, 1, 1);
    const xv = await x.data();
    const want = [0, 1].flatMap((b) => naiveGather(xv.subarray(b * 12, (b + 1) * 12), [3, 4], [[2, 0], [1, 1]][b]!, 0));
    expect(Array.from(await y.data())).toEqual(want);
    tf.dispose([x, idx, y]);
  });
});
