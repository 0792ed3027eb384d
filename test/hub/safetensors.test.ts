import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tf } from '../../src/tf.js';
import { WeightsFormatError, parseSafetensors, serializeSafetensors } from '../../src/hub/safetensors.js';
import { readSafetensors, writeSafetensors } from '../../src/hub/weight_files.js';
import { type HostTensor, fromNumbers, toFloat32 } from '../../src/hub/host_tensor.js';
import { createModel, loadWeights, saveWeights } from '../../src/index.js';
import { PARITY } from '../paths.js';
import { concat } from '../../fuzz/bytes.js';

const dir = mkdtempSync(join(tmpdir(), 'vizoo-st-'));

/** A file with a hand-written header and `data` bytes. */
function rawFile(name: string, header: string, data: Uint8Array = new Uint8Array(0), declaredLen?: number): string {
  const h = new TextEncoder().encode(header);
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(declaredLen ?? h.byteLength), true);
  const p = join(dir, name);
  writeFileSync(p, concat([len, h, data]));
  return p;
}

describe('safetensors', () => {
  it('round-trips every dtype bit-exactly, with metadata', () => {
    const tensors: Record<string, HostTensor> = {
      f32: fromNumbers('F32', [2, 3], [1.5, -2, 3.25, 0, -0, 1e-30]),
      f16: fromNumbers('F16', [4], [1, -2.5, 65504, 6e-8]),
      bf16: fromNumbers('BF16', [3], [1, -3.140625, 1e30]),
      i64: { dtype: 'I64', shape: [2], data: BigInt64Array.from([-(2n ** 40n), 7n]) },
      i32: fromNumbers('I32', [1], [-5]),
      u8: fromNumbers('U8', [3], [0, 128, 255]),
      scalar: fromNumbers('F64', [], [Math.PI]),
      empty: fromNumbers('F32', [0, 4], []),
    };
    const p = join(dir, 'all.safetensors');
    writeSafetensors(p, tensors, { format: 'pt', note: 'hi' });
    const back = readSafetensors(p);
    expect(back.metadata).toEqual({ format: 'pt', note: 'hi' });
    expect([...back.tensors.keys()]).toEqual(Object.keys(tensors));
    for (const [k, t] of Object.entries(tensors)) {
      const b = back.tensors.get(k)!;
      expect(b.dtype).toBe(t.dtype);
      expect(b.shape).toEqual(t.shape);
      expect(Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength).equals(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength))).toBe(true);
    }
    expect(Array.from(toFloat32(back.tensors.get('f16')!))).toEqual([1, -2.5, 65504, Math.fround(5.960464477539063e-8)]);
    expect(Array.from(toFloat32(back.tensors.get('bf16')!)).slice(0, 2)).toEqual([1, -3.140625]);
    // 8-byte aligned header, as the reference writer does
    const n = readFileSync(p).readBigUInt64LE(0);
    expect(Number(n) % 8).toBe(0);
  });

  it('reads the official fixtures written by Python', () => {
    const f = readSafetensors(join(PARITY, 'large_kernel', 'van_lka.safetensors'));
    expect(f.tensors.get('conv0.weight')!.shape).toEqual([8, 1, 5, 5]);
    expect(f.tensors.get('__input__')!.dtype).toBe('F32');
  });

  it('a model state dict round-trips through a file (same outputs)', async () => {
    const a = createModel('van_b0', { numClasses: 4, seed: 3 }).eval();
    const p = join(dir, 'van.safetensors');
    await saveWeights(a, p);
    const b = createModel('van_b0', { numClasses: 4, init: false });
    loadWeights(b, p);
    b.eval();
    const x = tf.randomNormal([1, 32, 32, 3], 0, 1, 'float32', 5);
    expect(Array.from(await b.forward(x).data())).toEqual(Array.from(await a.forward(x).data()));
    const f = readSafetensors(p);
    expect(f.metadata.format).toBe('pt');
    expect(f.tensors.get('patch_embed1.norm.num_batches_tracked')!.dtype).toBe('I64');
  });

  const bad: [string, () => string, RegExp][] = [
    ['a file shorter than 8 bytes', () => (writeFileSync(join(dir, 'short.safetensors'), new Uint8Array(5)), join(dir, 'short.safetensors')), /shorter than the 8-byte header length/],
    ['a header length larger than the file', () => rawFile('hlen.safetensors', '{}', new Uint8Array(0), 4096), /header length 4096 is larger than/],
    ['malformed JSON', () => rawFile('json.safetensors', '{"a": {"dtype": "F32", '), /header is not valid UTF-8 JSON/],
    ['an unknown dtype', () => rawFile('dtype.safetensors', '{"a":{"dtype":"F8_E9M9","shape":[1],"data_offsets":[0,1]}}', new Uint8Array(1)), /unknown dtype "F8_E9M9"/],
    ['overlapping offsets', () => rawFile('overlap.safetensors', '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', new Uint8Array(12)), /"a" and "b" overlap/],
    ['offsets that disagree with the shape', () => rawFile('size.safetensors', '{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', new Uint8Array(8)), /needs 12 bytes but data_offsets \[0, 8\] span 8/],
    ['a truncated data section', () => {
      const full = serializeSafetensors({ w: fromNumbers('F32', [64], new Array(64).fill(1)) });
      const bytes = concat(full);
      const p = join(dir, 'trunc.safetensors');
      writeFileSync(p, bytes.subarray(0, bytes.byteLength - 10));
      return p;
    }, /ends at byte 256 but the data section has only 246 bytes/],
    ['a missing file', () => join(dir, 'nope.safetensors'), /no such file/],
  ];
  for (const [what, make, msg] of bad) {
    it(`rejects ${what} with an error naming the file`, () => {
      const p = make();
      let err: unknown;
      try {
        readSafetensors(p);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(WeightsFormatError);
      expect((err as Error).message.startsWith(`${p}: `)).toBe(true);
      expect((err as Error).message).toMatch(msg);
    });
  }

  it('parses from memory too', () => {
    const bytes = concat(serializeSafetensors({ a: fromNumbers('I32', [2], [3, 4]) }));
    expect(Array.from(parseSafetensors(bytes, 'mem').tensors.get('a')!.data as Int32Array)).toEqual([3, 4]);
  });
});
