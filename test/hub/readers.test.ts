// The byte-level readers: pure modules (a browser entry shares them), strided views copied exactly,
// protobuf numbers packed or not, deflated zips, and errors that name what the caller named.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import onnxProto from 'onnx-proto';
import { type DType, DTYPE_BYTES, type HostTensor, bytesOf, fromNumbers, toFloat32, walkStrided } from '../../src/hub/host_tensor.js';
import { parseTorchCheckpoint } from '../../src/hub/pytorch.js';
import { parseOnnxMetadata, parseOnnxWeights } from '../../src/hub/onnx_weights.js';
import { modelInfoFromMetadata, readWeightsBytes } from '../../src/hub/weights.js';
import { serializeSafetensors } from '../../src/hub/safetensors.js';
import { serializeTorchCheckpoint } from '../../src/hub/pytorch_writer.js';
import { ZipReader, bufferSource } from '../../src/hub/zip.js';
import { FileError } from '../../src/util/errors.js';
import { quote, summarize } from '../../src/util/summary.js';
import { Rng } from '../../src/nn/rng.js';
import { viewsCheckpoint } from '../../fuzz/attacks.js';
import { buildZip } from '../../fuzz/zip_records.js';
import { concat } from '../../fuzz/bytes.js';
import { ROOT } from '../paths.js';

const { onnx } = onnxProto;

/** Every module a pure reader imports, transitively; returns the platform imports (node:*, sharp, ...) found. */
function platformImports(entry: string): string[] {
  const seen = new Set<string>();
  const found: string[] = [];
  const walk = (f: string) => {
    if (seen.has(f)) return;
    seen.add(f);
    for (const m of readFileSync(f, 'utf8').matchAll(/^(?:import|export)[^'"]*from\s+'([^']+)'/gm)) {
      const spec = m[1]!;
      if (spec.startsWith('.')) walk(resolve(dirname(f), spec.replace(/\.js$/, '.ts')));
      else if (/^(node:|sharp|onnxruntime|webgpu|@tensorflow\/tfjs-node)/.test(spec)) found.push(`${f.slice(ROOT.length + 1)} imports ${spec}`);
    }
  };
  walk(resolve(ROOT, entry));
  return found;
}

describe('pure readers', () => {
  for (const m of ['src/hub/weights.ts', 'src/hub/safetensors.ts', 'src/hub/pytorch.ts', 'src/hub/onnx_weights.ts', 'src/data/image_format.ts']) {
    it(`${m} imports no Node or native module`, () => expect(platformImports(m)).toEqual([]));
  }

  it("a file's model metadata must name a model and a sane class count", () => {
    expect(modelInfoFromMetadata({ vizoo_model: 'van_b0', vizoo_config: '{"numClasses":10}' }, 'w.safetensors')).toEqual({ model: 'van_b0', config: { numClasses: 10 }, trained: { numClasses: 10 } });
    expect(() => modelInfoFromMetadata({ vizoo_model: 'x'.repeat(1e6) }, 'w.safetensors')).toThrow(/^w\.safetensors: metadata vizoo_model "x+\.\.\." \(1000000 characters\) is not a model name$/);
    expect(() => modelInfoFromMetadata({ vizoo_config: '{"numClasses":1e9}' }, 'w.safetensors')).toThrow(/has numClasses 1000000000, not a class count/);
    expect(() => modelInfoFromMetadata({ vizoo_config: '[[[' }, 'w.safetensors')).toThrow(/^w\.safetensors: metadata vizoo_config is not valid JSON$/);
  });

  it('read weights from bytes, naming them as the caller does', () => {
    const sd = new Map([['w', fromNumbers('F32', [2], [1, 2])]]);
    for (const [name, bytes] of [['a.safetensors', concat(serializeSafetensors(sd))], ['a.pth', concat(serializeTorchCheckpoint(sd))], ['weights-without-extension', concat(serializeTorchCheckpoint(sd))]] as const) {
      expect(Array.from(toFloat32(readWeightsBytes(bytes, name).get('w')!))).toEqual([1, 2]);
    }
    expect(() => readWeightsBytes(new Uint8Array(10), 'upload #3')).toThrow(/^upload #3: unsupported weights format/);
    expect(() => readWeightsBytes(new Uint8Array(10), 'blob.pth')).toThrow(FileError);
  });
});

describe('strided views', () => {
  /** The view copied element by element: the reference. */
  function naive(src: HostTensor, offset: number, size: number[], stride: number[]): number[] {
    const vals = Array.from(src.data as ArrayLike<number | bigint>, Number);
    const out: number[] = [];
    walkStrided(size, stride, offset, (_, off) => out.push(vals[off]!));
    return out;
  }

  const STORAGE: Record<string, [DType, string]> = { f32: ['F32', 'FloatStorage'], i64: ['I64', 'LongStorage'], f16: ['F16', 'HalfStorage'], u8: ['U8', 'ByteStorage'] };

  it('random views (offsets, transposes, stride 0, overlaps) of 1-, 2-, 4- and 8-byte storages match an element-by-element copy', () => {
    const rng = new Rng(3);
    for (const [key, [dtype, type]] of Object.entries(STORAGE)) {
      const numel = 97;
      const storage: HostTensor = dtype === 'I64' ? { dtype, shape: [numel], data: BigInt64Array.from({ length: numel }, (_, i) => BigInt(i * 3 - 50)) } : fromNumbers(dtype, [numel], Array.from({ length: numel }, (_, i) => i % 120));
      const views = Array.from({ length: 40 }, (_, i) => {
        const rank = 1 + rng.int(4);
        const size = Array.from({ length: rank }, () => 1 + rng.int(4));
        const stride = size.map(() => (rng.uniform() < 0.25 ? 0 : rng.int(7)));
        let last = 0;
        size.forEach((s, d) => (last += (s - 1) * stride[d]!));
        return { name: `v${i}`, offset: rng.int(numel - last), size, stride };
      });
      const sd = parseTorchCheckpoint(viewsCheckpoint(views, numel, bytesOf(storage), type), `${key}.pth`);
      for (const v of views) {
        const t = sd.get(v.name)!;
        expect(t.dtype).toBe(dtype);
        expect(t.shape).toEqual(v.size);
        expect(t.data.byteLength).toBe(v.size.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype]);
        expect(Array.from(t.data as ArrayLike<number | bigint>, Number), `${key} ${JSON.stringify(v)}`).toEqual(naive(storage, v.offset, v.size, v.stride));
      }
    }
  });

  it('a view repeating one element 4 million times is filled in one pass, and 2^28 times is refused', () => {
    const one = new Uint8Array(new Float32Array([2.5]).buffer);
    const sd = parseTorchCheckpoint(viewsCheckpoint([{ name: 'w', offset: 0, size: [2048, 2048], stride: [0, 0] }], 1, one), 'ok.pth');
    const w = sd.get('w')!.data as Float32Array;
    expect(w.length).toBe(2 ** 22);
    expect(w[0]).toBe(2.5);
    expect(w[w.length - 1]).toBe(2.5);
    expect(() => parseTorchCheckpoint(viewsCheckpoint([{ name: 'w', offset: 0, size: [2 ** 14, 2 ** 14], stride: [0, 0] }], 1, one), 'big.pth')).toThrow(
      /^big\.pth: tensor "w" \(size \[16384,16384\], stride \[0,0\], offset 0\) would take 1073741824 bytes, past the \d+ bytes vizoo allows/,
    );
  });
});

describe('ONNX from bytes', () => {
  const model = (init: object[]) => onnx.ModelProto.encode(onnx.ModelProto.fromObject({ graph: { initializer: init }, metadataProps: [{ key: 'k', value: 'v' }] })).finish();

  it('reads packed and unpacked numbers alike, int32_data for narrow types, and metadata', () => {
    const packed = model([{ name: 'f', dims: [3], dataType: 1, floatData: [1, -2, 3.5] }, { name: 'i', dims: [2], dataType: 7, int64Data: [-5, 2 ** 40] }, { name: 'b', dims: [3], dataType: 3, int32Data: [-1, 7, -128] }]);
    // The same tensors with every repeated field written unpacked (one tag per value).
    const unpacked = concat([
      Uint8Array.of(0x3a), // graph, length-delimited
      ...(() => {
        const tensor = (parts: number[]) => Uint8Array.of(0x2a, parts.length, ...parts);
        const f32 = (v: number) => [0x25, ...new Uint8Array(new Float32Array([v]).buffer)];
        const varint = (tag: number, v: bigint) => {
          const out = [tag];
          let x = BigInt.asUintN(64, v);
          do {
            out.push(Number(x & 0x7fn) | (x >= 0x80n ? 0x80 : 0));
            x >>= 7n;
          } while (x);
          return out;
        };
        const g = concat([
          tensor([0x08, 3, 0x10, 1, 0x42, 1, 0x66, ...f32(1), ...f32(-2), ...f32(3.5)]),
          tensor([0x08, 2, 0x10, 7, 0x42, 1, 0x69, ...varint(0x38, -5n), ...varint(0x38, 2n ** 40n)]),
          tensor([0x08, 3, 0x10, 3, 0x42, 1, 0x62, ...varint(0x28, -1n), ...varint(0x28, 7n), ...varint(0x28, -128n)]),
        ]);
        expect(g.byteLength).toBeLessThan(128); // a one-byte length
        return [Uint8Array.of(g.byteLength), g];
      })(),
    ]);
    for (const bytes of [packed, unpacked]) {
      const sd = parseOnnxWeights(bytes, 'm.onnx');
      expect(Array.from(sd.get('f')!.data as Float32Array)).toEqual([1, -2, 3.5]);
      expect(Array.from(sd.get('i')!.data as BigInt64Array)).toEqual([-5n, 2n ** 40n]);
      expect(Array.from(sd.get('b')!.data as Int8Array)).toEqual([-1, 7, -128]);
    }
    expect(parseOnnxMetadata(packed, 'm.onnx')).toEqual({ k: 'v' });
  });

  it('external data given as bytes with no files is an error naming the model and the location', () => {
    const m = model([{ name: 'w', dims: [1], dataType: 1, dataLocation: 1, externalData: [{ key: 'location', value: 'w.bin' }] }]);
    expect(() => parseOnnxWeights(m, 'upload.onnx')).toThrow(/^upload\.onnx: initializer "w" external data "w\.bin" is needed, but the model was given as bytes/);
  });
});

describe('zip and messages', () => {
  it('reads deflated entries and refuses one that inflates past its claim', () => {
    const data = new Uint8Array(5000).map((_, i) => i % 7);
    const z = buildZip([{ name: 'a', data, deflate: true }, { name: 'b', data: data.subarray(0, 10) }]);
    const r = new ZipReader(bufferSource(z.bytes), 'z.pth');
    expect(r.read('a')).toEqual(data);
    const central = z.bytes.findIndex((_, i) => z.bytes[i] === 0x50 && z.bytes[i + 1] === 0x4b && z.bytes[i + 2] === 1 && z.bytes[i + 3] === 2);
    new DataView(z.bytes.buffer).setUint32(central + 24, 4999, true);
    expect(() => new ZipReader(bufferSource(z.bytes), 'z.pth').read('a')).toThrow(/^z\.pth: entry "a" inflates to more than the 4999 bytes the directory says$/);
  });

  it('summaries of hostile values stay short, on one line, and never recurse', () => {
    let deep: unknown[] = [];
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const cyclic: unknown[] = [];
    cyclic.push(cyclic, 2n ** 100n, new Map([[1, 2]]));
    for (const v of [deep, cyclic, 'x\n'.repeat(1e6), 2n ** 4000n, new Uint8Array(9)]) {
      const s = summarize(v);
      expect(s.length).toBeLessThan(200);
      expect(s).not.toMatch(/[\n\r]/);
    }
    expect(summarize(cyclic)).toBe('(<a sequence of 3 items>, an integer of 31 digits, <a dict of 1 entries>)');
    expect(quote('a"b\nc')).toBe('"a\\"b\\u000ac"');
    expect(new FileError('f.pth', 'two\nlines').message).toBe('f.pth: two lines');
  });
});
