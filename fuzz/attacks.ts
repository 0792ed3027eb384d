/**
 * Hand-made hostile inputs: the cases of vizoo issue 15 and others of their kind, each with the outcome it
 * must have (a result, or a FileError whose message matches). test/fuzz/untrusted.test.ts runs them through
 * the fuzz workers, so a regression shows as a failed expectation, a timeout or an OOM, never a hung suite.
 */
import { serializeSafetensors } from '../src/hub/safetensors.js';
import { fromNumbers } from '../src/hub/host_tensor.js';
import { concat, putInt, utf8 } from './bytes.js';
import { type Op, assemble, emit, intTuple, op } from './pickle_ops.js';
import { type Format } from './seeds.js';
import { buildZip } from './zip_records.js';
import { deepGraph, field } from './mutate.js';
import { zlibSync } from 'fflate';
import onnxProto from 'onnx-proto';
import { crc32 } from '../src/hub/zip.js';

export interface Attack {
  name: string;
  format: Format;
  bytes: Uint8Array;
  /** 'ok', or a pattern the error message must match. */
  expect: 'ok' | RegExp;
}

// -------------------------------------------------------------------------------------------- safetensors

function safetensors(header: string, data = new Uint8Array(0), declared?: bigint): Uint8Array {
  const h = utf8(header);
  const len = new Uint8Array(8);
  putInt(len, 0, 8, declared ?? BigInt(h.byteLength));
  return concat([len, h, data]);
}

const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;

const SAFETENSORS: Attack[] = [
  { name: 'deeply nested JSON as a shape', format: 'safetensors', bytes: safetensors(`{"a":{"dtype":"F32","shape":${deep(200_000)},"data_offsets":[0,4]}}`, new Uint8Array(4)), expect: /invalid shape/ },
  { name: 'deeply nested JSON as metadata', format: 'safetensors', bytes: safetensors(`{"__metadata__":{"x":${deep(200_000)}}}`), expect: /__metadata__ entry "x" is .*not a string/ },
  { name: 'a negative dimension', format: 'safetensors', bytes: safetensors('{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,0]}}'), expect: /invalid shape \(-2\)/ },
  { name: 'fractional offsets', format: 'safetensors', bytes: safetensors('{"a":{"dtype":"U8","shape":[2],"data_offsets":[0.5,2.5]}}', new Uint8Array(4)), expect: /invalid data_offsets/ },
  { name: 'a header length of 2^64-1', format: 'safetensors', bytes: safetensors('{}', new Uint8Array(0), 2n ** 64n - 1n), expect: /header length \d+ is larger than/ },
  { name: 'a megabyte-long tensor name with newlines', format: 'safetensors', bytes: safetensors(`{${JSON.stringify('a\n'.repeat(500_000))}:{"dtype":"X","shape":[],"data_offsets":[0,0]}}`), expect: /unknown dtype "X"/ },
  { name: 'a well-formed file', format: 'safetensors', bytes: concat(serializeSafetensors({ 'bn.num_batches_tracked': fromNumbers('I64', [], [7]) })), expect: 'ok' },
];

// -------------------------------------------------------------------------------------------- PyTorch

const proto2 = op(0x80, [2]);
const MAGIC = op(0x8a, [10], Uint8Array.from([0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]));

/** A legacy checkpoint: the header pickles, `main`, its storage keys and storages (numel, bytes). */
function legacy(main: Op[], storages: [string, bigint, Uint8Array][]): Uint8Array {
  const head = [[proto2, MAGIC, emit.stop()], [proto2, emit.int(1001), emit.stop()], [proto2, op(0x7d), emit.stop()]];
  const keys = [proto2, emit.mark(), ...storages.map(([k]) => emit.str(k)), op(0x6c), emit.stop()];
  const parts = [...head.map(assemble), assemble([proto2, ...main, emit.stop()]), assemble(keys)];
  for (const [, n, data] of storages) {
    const count = new Uint8Array(8);
    putInt(count, 0, 8, n);
    parts.push(count, data);
  }
  return concat(parts);
}

/** A view of storage '0': its storage offset (as opcodes, so it can be anything), size and stride. */
export interface ViewSpec {
  name: string;
  offset: Op[] | number;
  size: number[];
  stride: number[];
}

/** `{name: view, ...}` over storage '0' of `type` (e.g. 'FloatStorage') holding `numel` elements. */
function viewDict(views: ViewSpec[], numel: number, type = 'FloatStorage'): Op[] {
  const ops: Op[] = [op(0x7d)];
  for (const v of views) {
    ops.push(
      emit.str(v.name), emit.global('torch._utils', '_rebuild_tensor_v2'), emit.mark(),
      emit.mark(), emit.str('storage'), emit.global('torch', type), emit.str('0'), emit.str('cpu'), emit.int(numel), emit.none(), emit.tuple(), op(0x51),
      ...(typeof v.offset === 'number' ? [emit.int(v.offset)] : v.offset), ...intTuple(v.size), ...intTuple(v.stride), op(0x89), op(0x7d), emit.tuple(), emit.reduce(), op(0x73),
    );
  }
  return ops;
}

/** A legacy checkpoint whose tensors are `views` of one storage of `type` holding `numel` elements given as `bytes`. */
export function viewsCheckpoint(views: ViewSpec[], numel: number, bytes: Uint8Array, type = 'FloatStorage'): Uint8Array {
  return legacy(viewDict(views, numel, type), [['0', BigInt(numel), bytes]]);
}

const floats = (n: number) => new Uint8Array(new Float32Array(n).fill(1.5).buffer);
const float64 = (v: number) => {
  const d = new Uint8Array(8);
  new DataView(d.buffer).setFloat64(0, v, false);
  return op(0x47, [], d);
};
const NEG_BINSTRING = Uint8Array.from([0x80, 0x02, 0x54, 0xfb, 0xff, 0xff, 0xff, 0x2e]);

/** A pickle leaving one value (`value` ops) in a dict under 'x'. */
const holding = (value: Op[]): Op[] => [op(0x7d), emit.str('x'), ...value, op(0x73)];

const PTH: Attack[] = [
  { name: 'a negative BINSTRING length (8-byte legacy file)', format: 'pth-legacy', bytes: NEG_BINSTRING, expect: /invalid length -5/ },
  { name: 'a negative BINSTRING length in a zip', format: 'pth-zip', bytes: buildZip([{ name: 'a/data.pkl', data: NEG_BINSTRING }]).bytes, expect: /invalid length -5/ },
  { name: 'a stride-0 view of 2^28 elements', format: 'pth-legacy', bytes: viewsCheckpoint([{ name: 'w', offset: 0, size: [2 ** 14, 2 ** 14], stride: [0, 0] }], 1, floats(1)), expect: /would take 1073741824 bytes, past the \d+ bytes vizoo allows/ },
  { name: 'a stride-0 view of 2^22 elements (under the cap)', format: 'pth-legacy', bytes: viewsCheckpoint([{ name: 'w', offset: 1, size: [2 ** 11, 2 ** 11], stride: [0, 0] }], 2, floats(2)), expect: 'ok' },
  { name: 'a non-numeric storage offset', format: 'pth-legacy', bytes: viewsCheckpoint([{ name: 'w', offset: [emit.str('abc')], size: [4], stride: [1] }], 4, floats(4)), expect: /storage offset "abc" is not a non-negative integer/ },
  { name: 'a fractional storage offset', format: 'pth-legacy', bytes: viewsCheckpoint([{ name: 'w', offset: [float64(0.5)], size: [2], stride: [1] }], 4, floats(4)), expect: /storage offset 0.5 is not/ },
  { name: 'a negative size', format: 'pth-legacy', bytes: viewsCheckpoint([{ name: 'w', offset: 0, size: [-2], stride: [1] }], 4, floats(4)), expect: /tensor size \(-2\) is not a tuple/ },
  { name: 'a view reaching past its storage', format: 'pth-legacy', bytes: viewsCheckpoint([{ name: 'w', offset: 3, size: [2], stride: [1] }], 4, floats(4)), expect: /reaches outside its storage of 4 elements/ },
  { name: 'a negative storage element count', format: 'pth-legacy', bytes: legacy(viewDict([{ name: 'w', offset: 0, size: [4], stride: [1] }], 4), [['0', -1n, floats(4)]]), expect: /claims -1 elements/ },
  { name: '200k-item APPENDS', format: 'pth-legacy', bytes: legacy(holding([op(0x5d), emit.mark(), ...Array.from({ length: 200_000 }, emit.none), op(0x65)]), []), expect: /holds no state dict|cannot find the state dict/ },
  { name: '300k-deep tuple nesting', format: 'pth-zip', bytes: buildZip([{ name: 'a/data.pkl', data: assemble([proto2, ...holding([op(0x29), ...Array.from({ length: 300_000 }, () => op(0x85))]), emit.stop()]) }]).bytes, expect: /cannot find the state dict/ },
  { name: "a dict that is its own 'model'", format: 'pth-zip', bytes: buildZip([{ name: 'a/data.pkl', data: assemble([proto2, op(0x7d), op(0x72, [1, 0, 0, 0]), emit.str('model'), op(0x6a, [1, 0, 0, 0]), op(0x73), emit.stop()]) }]).bytes, expect: /cannot find the state dict/ },
  {
    name: 'a list copied a million times',
    format: 'pth-zip',
    bytes: buildZip([{ name: 'a/data.pkl', data: assemble([proto2, op(0x5d), emit.mark(), ...Array.from({ length: 10_000 }, emit.none), op(0x65), op(0x72, [1, 0, 0, 0]), op(0x30), ...Array.from({ length: 100_000 }, () => [emit.global('builtins', 'list'), op(0x6a, [1, 0, 0, 0]), op(0x85), emit.reduce(), op(0x30)]).flat(), emit.none(), emit.stop()]) }]).bytes,
    expect: /a copy bomb/,
  },
  { name: 'a 200 kB integer', format: 'pth-zip', bytes: buildZip([{ name: 'a/data.pkl', data: assemble([proto2, op(0x8b, [0x40, 0x0d, 0x03, 0], new Uint8Array(200_000).fill(0x7f)), emit.stop()]) }]).bytes, expect: /integer of 200000 bytes/ },
  { name: 'an eval global', format: 'pth-zip', bytes: buildZip([{ name: 'a/data.pkl', data: assemble([proto2, emit.global('builtins', 'eval'), emit.mark(), emit.str('1'), emit.tuple(), emit.reduce(), emit.stop()]) }]).bytes, expect: /refusing to load: the pickle references the global "builtins.eval"/ },
  {
    name: 'a zip entry claiming 4 GiB from 154 bytes',
    format: 'pth-zip',
    bytes: (() => {
      const z = buildZip([{ name: 'a/data.pkl', data: new Uint8Array(16), deflate: true }]).bytes;
      const central = z.findIndex((_, i) => z[i] === 0x50 && z[i + 1] === 0x4b && z[i + 2] === 1 && z[i + 3] === 2);
      for (const at of [22, central + 24]) putInt(z, at, 4, 0xfffffffen); // the uncompressed size, local and central
      return z;
    })(),
    expect: /claims 4294967294 bytes from \d+ compressed bytes, more than deflate can produce/,
  },
  {
    name: 'a ZIP64 extra field cut short',
    format: 'pth-zip',
    bytes: (() => {
      const z = buildZip([{ name: 'a/data.pkl', data: assemble([proto2, emit.none(), emit.stop()]) }], true);
      // The central ZIP64 field (id 1, 24 bytes) says it holds 4 bytes: no room for its 8-byte sizes.
      const len = z.fields.find((f) => f.width === 2 && z.bytes[f.at] === 24 && z.bytes[f.at - 2] === 1)!;
      putInt(z.bytes, len.at, 2, 4n);
      return z.bytes;
    })(),
    expect: /ZIP64 size is cut off|extra field running past/,
  },
  { name: 'num_batches_tracked beyond int32', format: 'safetensors', bytes: concat(serializeSafetensors({ 'bn.num_batches_tracked': { dtype: 'I64', shape: [], data: BigInt64Array.from([2n ** 40n]) } })), expect: /"bn.num_batches_tracked" holds 1099511627776 at index 0, which is not an int32/ },
];

// -------------------------------------------------------------------------------------------- ONNX

const { onnx } = onnxProto;

/** A model with one F32 initializer 'conv.bias' ([4], 16 bytes) whose data is external. */
function external(entries: [string, string][], dims: number[] = [4]): Uint8Array {
  const t = { name: 'conv.bias', dims, dataType: 1, dataLocation: 1, externalData: entries.map(([key, value]) => ({ key, value })) };
  return onnx.ModelProto.encode(onnx.ModelProto.fromObject({ irVersion: 8, graph: { name: 'g', initializer: [t] } })).finish();
}

const ONNX: Attack[] = [
  { name: 'external data ../../../../../../etc/passwd', format: 'onnx', bytes: external([['location', '../../../../../../etc/passwd']]), expect: /external data "\.\.\/\.\.\/.*" climbs out of the model folder/ },
  { name: 'external data /dev/zero, 1 GiB', format: 'onnx', bytes: external([['location', '/dev/zero'], ['length', String(2 ** 30)]], [2 ** 28]), expect: /external data "\/dev\/zero" is an absolute path/ },
  { name: 'external data through a link out of the folder', format: 'onnx', bytes: external([['location', 'link_out.bin']]), expect: /external data "link_out.bin" lies outside the model folder/ },
  { name: 'external data through a link to a device', format: 'onnx', bytes: external([['location', 'link_dev']]), expect: /external data "link_dev" lies outside the model folder/ },
  { name: 'external data from a FIFO', format: 'onnx', bytes: external([['location', 'fifo']]), expect: /external data "fifo" (is not a regular file|no such file)/ },
  { name: 'external data from a folder', format: 'onnx', bytes: external([['location', 'sub']]), expect: /external data "sub" is a directory/ },
  { name: 'external data that does not exist', format: 'onnx', bytes: external([['location', 'missing.bin']]), expect: /external data "missing.bin" does not exist in the model folder/ },
  { name: 'external data of 2 GB', format: 'onnx', bytes: external([['location', 'weights.bin'], ['length', '2147483648']], [2 ** 29]), expect: /needs bytes 0\.\.2147483648 but the file has 4096/ },
  { name: 'external data with a negative offset', format: 'onnx', bytes: external([['location', 'weights.bin'], ['offset', '-1']]), expect: /has offset "-1", not a non-negative integer/ },
  { name: 'external data with a length the tensor does not have', format: 'onnx', bytes: external([['location', 'weights.bin'], ['length', '-1']]), expect: /has length "-1", not a non-negative integer/ },
  { name: 'external data past the end of its file', format: 'onnx', bytes: external([['location', 'weights.bin'], ['offset', '4090']]), expect: /needs bytes 4090\.\.4106 but the file has 4096/ },
  { name: 'external data inside the folder', format: 'onnx', bytes: external([['location', 'link_in.bin'], ['offset', '16']]), expect: 'ok' },
  { name: 'a graph nested 100k levels deep', format: 'onnx', bytes: concat([external([['location', 'weights.bin']]), field(7, deepGraph(100_000))]), expect: 'ok' },
  { name: 'a negative dimension', format: 'onnx', bytes: onnx.ModelProto.encode(onnx.ModelProto.fromObject({ graph: { initializer: [{ name: 'w', dims: [-2], dataType: 1 }] } })).finish(), expect: /has dimension -2/ },
];

// -------------------------------------------------------------------------------------------- images

const BLUR_SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="99999" height="99999"><filter id="f"><feGaussianBlur stdDeviation="999"/></filter><rect width="100%" height="100%" filter="url(#f)"/></svg>';
const USE_BOMB = `<svg xmlns="http://www.w3.org/2000/svg"><g id="a0"><rect width="9" height="9"/></g>${Array.from({ length: 12 }, (_, i) => `<g id="a${i + 1}">${`<use href="#a${i}"/>`.repeat(10)}</g>`).join('')}</svg>`;

/** A PNG of `width` x `height` RGB pixels whose IDAT holds `idat` (CRCs right). */
function png(width: number, height: number, idat: Uint8Array): Uint8Array {
  const chunk = (type: string, data: Uint8Array) => {
    const c = new Uint8Array(12 + data.byteLength);
    putInt(c, 0, 4, BigInt(data.byteLength), false);
    c.set(utf8(type), 4);
    c.set(data, 8);
    putInt(c, 8 + data.byteLength, 4, BigInt(crc32(c.subarray(4, 8 + data.byteLength))), false);
    return c;
  };
  const ihdr = new Uint8Array(13);
  putInt(ihdr, 0, 4, BigInt(width), false);
  putInt(ihdr, 4, 4, BigInt(height), false);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return concat([Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', new Uint8Array(0))]);
}

const IMAGES: Attack[] = [
  { name: 'a 234-byte blur SVG', format: 'image', bytes: utf8(BLUR_SVG), expect: /is an SVG or other XML document \(a vector format\); vizoo decodes raster images only/ },
  { name: 'an SVG <use> bomb', format: 'image', bytes: utf8(USE_BOMB), expect: /is an SVG or other XML document/ },
  { name: 'an SVG after a BOM and blank lines', format: 'image', bytes: utf8(`\uFEFF\n\n  ${BLUR_SVG}`), expect: /is an SVG or other XML document/ },
  { name: 'a PDF', format: 'image', bytes: utf8('%PDF-1.7\n1 0 obj\n'), expect: /is a PDF document/ },
  { name: 'a PNG claiming 20000x20000 pixels', format: 'image', bytes: png(20000, 20000, zlibSync(new Uint8Array(1000))), expect: /more than vizoo's limit of 100000000/ },
  { name: 'a PNG whose pixel data stops early', format: 'image', bytes: png(64, 64, zlibSync(new Uint8Array(100))), expect: /cannot decode image: corrupt, truncated or unsupported PNG data/ },
  // The fuzz worker's eval transform resizes the shorter side to 9 pixels: 9 x 18 million.
  { name: 'a 1x2000000 PNG (resized for a model: 162 million pixels)', format: 'image', bytes: png(1, 2_000_000, zlibSync(new Uint8Array(2_000_000 * 4))), expect: /resized for the model it would be 9x18000000, more than vizoo's limit .* \(an extreme aspect ratio\)/ },
  { name: 'a 4000x4000 PNG in 40 kB (a decompression bomb under the limit)', format: 'image', bytes: png(4000, 4000, zlibSync(new Uint8Array(4000 * (1 + 3 * 4000)), { level: 9 })), expect: 'ok' },
];

export const ATTACKS: Attack[] = [...SAFETENSORS, ...PTH, ...ONNX, ...IMAGES];
