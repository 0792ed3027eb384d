/**
 * Seed inputs per format, built deterministically: the state dict of the fuzz model (a conv, a BatchNorm
 * with its int64 counter, a linear head) and odd dtypes, as safetensors, torch.save zips (plus the real
 * torch fixtures), legacy checkpoints, ONNX models (raw, typed-field and external data), and small images
 * of every raster format (plus the documents vizoo must refuse).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import sharp from 'sharp';
import { type DType, type HostTensor, type StateDict, bytesOf, fromNumbers } from '../src/hub/host_tensor.js';
import { serializeSafetensors } from '../src/hub/safetensors.js';
import { serializeTorchCheckpoint } from '../src/hub/pytorch_writer.js';
import { ZipReader, bufferSource } from '../src/hub/zip.js';
import { concat, utf8 } from './bytes.js';
import { type Op, emit, intTuple, op } from './pickle_ops.js';
import type { ZipInput } from './zip_records.js';

export const FORMATS = ['safetensors', 'pth-zip', 'pth-legacy', 'onnx', 'image'] as const;
export type Format = (typeof FORMATS)[number];

/** The file name each format's input gets in the case folder. */
export const INPUT_NAME: Record<Format, string> = {
  safetensors: 'input.safetensors',
  'pth-zip': 'input.pth',
  'pth-legacy': 'input.pth',
  onnx: 'input.onnx',
  image: 'input.img',
};

/** The fuzz model's state dict layout (PyTorch shapes); fuzz/worker.ts builds the same module. */
export const FUZZ_LAYOUT: [string, number[], 'F32' | 'I64'][] = [
  ['conv.weight', [4, 3, 3, 3], 'F32'],
  ['conv.bias', [4], 'F32'],
  ['bn.weight', [4], 'F32'],
  ['bn.bias', [4], 'F32'],
  ['bn.running_mean', [4], 'F32'],
  ['bn.running_var', [4], 'F32'],
  ['bn.num_batches_tracked', [], 'I64'],
  ['head.weight', [3, 4], 'F32'],
  ['head.bias', [3], 'F32'],
];

/** The bytes of `weights.bin` beside every ONNX input (the external data its seeds point into). */
export const EXTERNAL_DATA = Uint8Array.from({ length: 4096 }, (_, i) => (i * 7 + 3) & 0xff);

function modelStateDict(): StateDict {
  const sd: StateDict = new Map();
  let k = 0;
  for (const [name, shape, dtype] of FUZZ_LAYOUT) {
    const n = shape.reduce((a, b) => a * b, 1);
    sd.set(name, fromNumbers(dtype, shape, Array.from({ length: n }, () => ((k++ * 37) % 17) / 8 - 1)));
  }
  return sd;
}

function oddDtypes(): StateDict {
  return new Map<string, HostTensor>([
    ['f16', fromNumbers('F16', [2, 3], [1, -2, 0.5, 65504, 0, -0])],
    ['bf16', fromNumbers('BF16', [3], [1, -3, 1e30])],
    ['f64', fromNumbers('F64', [2], [Math.PI, -1])],
    ['i64', { dtype: 'I64', shape: [2], data: BigInt64Array.from([-(2n ** 40n), 7n]) }],
    ['i32', fromNumbers('I32', [1], [-5])],
    ['i16', fromNumbers('I16', [2], [1, -1])],
    ['i8', fromNumbers('I8', [2], [1, -1])],
    ['u8', fromNumbers('U8', [3], [0, 128, 255])],
    ['bool', fromNumbers('BOOL', [2], [1, 0])],
    ['empty', fromNumbers('F32', [0, 4], [])],
    ['scalar', fromNumbers('F32', [], [2])],
  ]);
}

const prefixed = (sd: StateDict, p: string): StateDict => new Map([...sd].map(([k, t]) => [p + k, t]));

function safetensorsSeeds(): Uint8Array[] {
  const cfg = JSON.stringify({ numClasses: 3, inputSize: [3, 8, 8], labels: ['a', 'b', 'c'] });
  return [
    concat(serializeSafetensors(modelStateDict(), { format: 'pt', vizoo_model: 'van_b0', vizoo_config: cfg })),
    concat(serializeSafetensors(oddDtypes())),
    concat(serializeSafetensors(prefixed(modelStateDict(), 'module.'))),
  ];
}

/** The entries of a zip (valid seeds only). */
export function zipEntries(bytes: Uint8Array): ZipInput[] {
  const z = new ZipReader(bufferSource(bytes), 'seed');
  return [...z.entries.keys()].map((name) => ({ name, data: z.read(name).slice() }));
}

function pthZipSeeds(fixtures: string): ZipInput[][] {
  const sd = modelStateDict();
  return [
    zipEntries(concat(serializeTorchCheckpoint(sd, { archiveName: 'input' }))),
    zipEntries(concat(serializeTorchCheckpoint({ model: sd, epoch: 3, note: 'x' }, { archiveName: 'ckpt' }))),
    zipEntries(concat(serializeTorchCheckpoint(oddDtypes(), { archiveName: 'odd' }))),
    zipEntries(readFileSync(join(fixtures, 'views_and_dtypes.pth'))),
    zipEntries(readFileSync(join(fixtures, 'malicious_os_system.pth'))),
  ];
}

/** A legacy (pre-1.6) torch.save file, as its pickles and storages. */
export interface LegacyParts {
  head: Op[][];
  main: Op[];
  keys: Op[];
  storages: { numel: bigint; data: Uint8Array }[];
}

const STORAGE: Record<DType, string> = {
  F32: 'FloatStorage', F64: 'DoubleStorage', F16: 'HalfStorage', BF16: 'BFloat16Storage', I64: 'LongStorage',
  I32: 'IntStorage', I16: 'ShortStorage', I8: 'CharStorage', U8: 'ByteStorage', BOOL: 'BoolStorage',
};

function legacySeed(sd: StateDict, views: boolean): LegacyParts {
  const magic = op(0x8a, [10], Uint8Array.from([0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]));
  const proto2 = op(0x80, [2]);
  const sysInfo = [proto2, op(0x7d), emit.mark(), emit.str('protocol_version'), emit.int(1001), emit.str('little_endian'), op(0x88), emit.str('type_sizes'), op(0x7d), emit.mark(), emit.str('int'), emit.int(4), emit.str('long'), emit.int(4), op(0x75), op(0x75), emit.stop()];
  const main: Op[] = [proto2, emit.global('collections', 'OrderedDict'), op(0x29), emit.reduce(), emit.mark()];
  const storages: LegacyParts['storages'] = [];
  const keys: string[] = [];
  for (const [name, t] of sd) {
    const id = String(storages.length);
    const n = t.data.length;
    const strides = t.shape.map((_, d) => t.shape.slice(d + 1).reduce((a, b) => a * b, 1));
    // With views, each tensor is the second half of a root storage twice its size.
    const view = views && n > 0 ? [emit.mark(), emit.str(`${id}v`), emit.int(n), emit.int(n), emit.tuple()] : [emit.none()];
    main.push(emit.str(name), emit.global('torch._utils', '_rebuild_tensor_v2'), emit.mark());
    main.push(emit.mark(), emit.str('storage'), emit.global('torch', STORAGE[t.dtype]), emit.str(id), emit.str('cpu'), emit.int(views ? 2 * n : n), ...view, emit.tuple(), op(0x51));
    main.push(emit.int(0), ...intTuple(t.shape), ...intTuple(strides), op(0x89), emit.global('collections', 'OrderedDict'), op(0x29), emit.reduce(), emit.tuple(), emit.reduce());
    const bytes = bytesOf(t);
    storages.push({ numel: BigInt(views ? 2 * n : n), data: views ? concat([bytes, bytes]) : bytes });
    keys.push(id);
  }
  main.push(op(0x75), emit.stop());
  return {
    head: [[proto2, magic, emit.stop()], [proto2, emit.int(1001), emit.stop()], sysInfo],
    main,
    keys: [proto2, emit.mark(), ...keys.map(emit.str), op(0x6c), emit.stop()],
    storages,
  };
}

function legacySeeds(): LegacyParts[] {
  const sd = modelStateDict();
  return [legacySeed(sd, false), legacySeed(sd, true), legacySeed(oddDtypes(), false)];
}

const { onnx } = onnxProto;

function onnxSeeds(): Uint8Array[] {
  const sd = modelStateDict();
  const TYPE: Record<string, number> = { F32: 1, I64: 7, F16: 10, BF16: 16, F64: 11, I32: 6, U8: 2, I8: 3, I16: 5, BOOL: 9 };
  const raw = (name: string, t: HostTensor) => ({ name, dims: t.shape, dataType: TYPE[t.dtype], rawData: bytesOf(t) });
  let ext = 0;
  const typed = (name: string, t: HostTensor, i: number) => {
    const base = { name, dims: t.shape, dataType: TYPE[t.dtype] };
    if (i % 3 === 1 && t.dtype === 'F32') return { ...base, floatData: Array.from(t.data as Float32Array) };
    if (i % 3 === 2 && t.dtype !== 'I64') {
      const length = t.data.byteLength;
      const offset = ext;
      ext += length + 16;
      return { ...base, dataLocation: 1, externalData: [{ key: 'location', value: 'weights.bin' }, { key: 'offset', value: String(offset) }, { key: 'length', value: String(length) }] };
    }
    if (t.dtype === 'I64') return { ...base, int64Data: Array.from(t.data as BigInt64Array, Number) };
    return raw(name, t);
  };
  const subgraph = { name: 'then', node: [{ opType: 'Identity', input: ['x'], output: ['y'] }], output: [{ name: 'y' }] };
  const graph = (initializer: object[]) => ({
    name: 'g',
    node: [
      { opType: 'Conv', input: ['x', 'conv.weight', 'conv.bias'], output: ['c'], attribute: [{ name: 'pads', type: 7, ints: [1, 1, 1, 1] }] },
      { opType: 'If', input: ['cond'], output: ['y'], attribute: [{ name: 'then_branch', type: 5, g: subgraph }] },
    ],
    initializer,
    input: [{ name: 'x' }],
    output: [{ name: 'y' }],
  });
  const meta = [{ key: 'vizoo_model', value: 'van_b0' }, { key: 'vizoo_config', value: '{"numClasses":3}' }];
  const model = (initializer: object[]) => onnx.ModelProto.encode(onnx.ModelProto.fromObject({ irVersion: 8, opsetImport: [{ version: 17 }], graph: graph(initializer), metadataProps: meta })).finish();
  const odd = [...oddDtypes()].map(([k, t]) => raw(k, t));
  return [model([...sd].map(([k, t]) => raw(k, t))), model([...sd].map(([k, t], i) => typed(k, t, i))), model(odd)];
}

async function imageSeeds(): Promise<Uint8Array[]> {
  const w = 16;
  const h = 12;
  const rgb = Buffer.from(Array.from({ length: w * h * 3 }, (_, i) => (i * 5) & 0xff));
  const base = () => sharp(rgb, { raw: { width: w, height: h, channels: 3 } });
  const rgba = () => sharp(Buffer.from(Array.from({ length: w * h * 4 }, (_, i) => (i * 3) & 0xff)), { raw: { width: w, height: h, channels: 4 } });
  const out: Uint8Array[] = await Promise.all([
    base().png().toBuffer(),
    base().png({ palette: true }).toBuffer(),
    base().png({ progressive: true }).toBuffer(),
    rgba().png().toBuffer(),
    base().toColourspace('b-w').png().toBuffer(),
    base().png().toColourspace('rgb16').toBuffer(),
    base().jpeg().toBuffer(),
    base().jpeg({ progressive: true, quality: 50 }).toBuffer(),
    base().webp().toBuffer(),
    base().webp({ lossless: true }).toBuffer(),
    base().gif().toBuffer(),
    base().tiff({ compression: 'lzw' }).toBuffer(),
    base().tiff({ compression: 'deflate' }).toBuffer(),
    base().avif({ effort: 0 }).toBuffer(),
  ]);
  const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="12"><rect width="16" height="12" fill="red"/></svg>';
  out.push(utf8(svg), utf8(`<?xml version="1.0"?>\n${svg}`), utf8('%PDF-1.4\n%...'), utf8('not an image at all\n'));
  return out;
}

export interface Seeds {
  safetensors: Uint8Array[];
  pthZip: ZipInput[][];
  pthLegacy: LegacyParts[];
  onnx: Uint8Array[];
  image: Uint8Array[];
}

/** Every format's seeds; `fixtures` is the folder of the real torch.save files (test/fixtures/pth). */
export async function buildSeeds(fixtures: string): Promise<Seeds> {
  return { safetensors: safetensorsSeeds(), pthZip: pthZipSeeds(fixtures), pthLegacy: legacySeeds(), onnx: onnxSeeds(), image: await imageSeeds() };
}
