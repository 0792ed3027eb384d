/**
 * Structure-aware mutations per format: safetensors header fields, pickle opcodes inside torch zips and
 * legacy files, zip records, ONNX protobuf fields (message-level and wire-level), image chunks and header
 * fields; then, sometimes, byte-level noise on top.
 */
import onnxProto from 'onnx-proto';
import type { Rng } from '../src/nn/rng.js';
import { INTERESTING_I64, INTERESTING_NUMBERS, concat, interestingInt, mutateBytes, pick, putInt, utf8 } from './bytes.js';
import { INTERESTING_KEYS, assemble, disassemble, mutateOps } from './pickle_ops.js';
import { type Format, type LegacyParts, type Seeds } from './seeds.js';
import { buildZip } from './zip_records.js';
import { mutateImage } from './mutate_image.js';

const { onnx } = onnxProto;

/** `f` applied 1-4 times. */
function rounds<T>(rng: Rng, x: T, f: (x: T) => T): T {
  for (let k = 1 + rng.int(4); k > 0; k--) x = f(x);
  return x;
}

// ---------------------------------------------------------------------------------------------- safetensors

const DEEP = '\u0000DEEP\u0000';

function jsonValue(rng: Rng): unknown {
  switch (rng.int(9)) {
    case 0: return pick(rng, INTERESTING_NUMBERS);
    case 1: return pick(rng, INTERESTING_KEYS);
    case 2: return Array.from({ length: rng.int(5) }, () => pick(rng, INTERESTING_NUMBERS));
    case 3: return null;
    case 4: return { a: 1 };
    case 5: return DEEP;
    case 6: return [[4]];
    case 7: return pick(rng, ['F32', 'F16', 'BF16', 'I64', 'BOOL', 'F8_E4M3', 'U64', '', 'f32']);
    default: return true;
  }
}

function mutateHeader(h: Record<string, unknown>, rng: Rng): Record<string, unknown> {
  const names = Object.keys(h).filter((k) => k !== '__metadata__');
  const name = names.length ? pick(rng, names) : 'x';
  const entry = (h[name] && typeof h[name] === 'object' ? { ...(h[name] as object) } : {}) as Record<string, unknown>;
  switch (rng.int(8)) {
    case 0: entry.dtype = jsonValue(rng); break;
    case 1: { // one dim, or the whole shape
      const shape = Array.isArray(entry.shape) ? [...entry.shape] : [];
      if (rng.uniform() < 0.7 && shape.length) shape[rng.int(shape.length)] = pick(rng, INTERESTING_NUMBERS);
      else if (rng.uniform() < 0.5) shape.push(pick(rng, INTERESTING_NUMBERS));
      entry.shape = rng.uniform() < 0.8 ? shape : jsonValue(rng);
      break;
    }
    case 2: { // offsets
      const o = Array.isArray(entry.data_offsets) ? [...entry.data_offsets] : [0, 0];
      if (rng.uniform() < 0.7) o[rng.int(2)] = pick(rng, INTERESTING_NUMBERS);
      else o.reverse();
      entry.data_offsets = rng.uniform() < 0.9 ? o : jsonValue(rng);
      break;
    }
    case 3: delete entry[pick(rng, ['dtype', 'shape', 'data_offsets'])]; break;
    case 4: { // metadata
      const meta = { ...((h.__metadata__ as object) ?? {}) } as Record<string, unknown>;
      meta[pick(rng, ['vizoo_config', 'vizoo_model', 'format', ...INTERESTING_KEYS])] = rng.uniform() < 0.5 ? pick(rng, ['{', '[]', '{"numClasses":"x"}', DEEP, '']) : jsonValue(rng);
      return { ...h, __metadata__: rng.uniform() < 0.9 ? meta : jsonValue(rng) };
    }
    case 5: { // many entries
      const out = { ...h };
      for (let i = pick(rng, [2, 1000, 20000]); i > 0; i--) out[`t${i}`] = { dtype: 'U8', shape: [0], data_offsets: [0, 0] };
      return out;
    }
    case 6: return { ...h, [pick(rng, INTERESTING_KEYS)]: h[name] }; // same entry under another name
    default: return { ...h, [name]: jsonValue(rng) };
  }
  return { ...h, [name]: entry };
}

function mutateSafetensors(seed: Uint8Array, rng: Rng): Uint8Array {
  const view = new DataView(seed.buffer, seed.byteOffset, seed.byteLength);
  const n = Number(view.getBigUint64(0, true));
  const data = seed.subarray(8 + n);
  let header = JSON.parse(new TextDecoder().decode(seed.subarray(8, 8 + n))) as Record<string, unknown>;
  header = rounds(rng, header, (x) => mutateHeader(x, rng));
  let text = rng.uniform() < 0.05 ? DEEP : JSON.stringify(header);
  const depth = pick(rng, [100, 10_000, 200_000]);
  text = text.split(JSON.stringify(DEEP)).join(`${'['.repeat(depth)}${']'.repeat(depth)}`).split(DEEP).join(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`);
  const h = utf8(text);
  const len = new Uint8Array(8);
  putInt(len, 0, 8, rng.uniform() < 0.1 ? interestingInt(rng, 8) : BigInt(h.byteLength));
  const tail = rng.uniform() < 0.1 ? data.subarray(0, rng.int(data.byteLength + 1)) : data;
  return concat([len, h, tail]);
}

// ---------------------------------------------------------------------------------------------- PyTorch

function mutatePickle(pkl: Uint8Array, rng: Rng): Uint8Array {
  const d = disassemble(pkl);
  if (!d) return mutateBytes(pkl, rng);
  return assemble(rounds(rng, d.ops, (ops) => mutateOps(ops, rng)));
}

function mutatePthZip(seed: { name: string; data: Uint8Array }[], rng: Rng): Uint8Array {
  let entries = seed.map((e) => ({ ...e, deflate: false }));
  const pkl = entries.findIndex((e) => e.name.endsWith('data.pkl'));
  const storages = entries.map((e, i) => i).filter((i) => /\/data\/[^/]+$/.test(entries[i]!.name));
  const r = rng.uniform();
  if (r < 0.55 && pkl >= 0) entries[pkl] = { ...entries[pkl]!, data: mutatePickle(entries[pkl]!.data, rng) };
  else if (r < 0.65 && storages.length) { // a storage shorter or longer than its tensors
    const i = pick(rng, storages);
    const data = entries[i]!.data;
    entries[i] = { ...entries[i]!, data: rng.uniform() < 0.5 ? data.subarray(0, rng.int(data.byteLength + 1)) : concat([data, data]) };
  } else if (r < 0.72) { // drop, rename or duplicate an entry
    const i = rng.int(entries.length);
    const k = rng.int(3);
    if (k === 0) entries.splice(i, 1);
    else if (k === 1) entries[i] = { ...entries[i]!, name: pick(rng, ['data.pkl', 'x/constants.pkl', entries[i]!.name.replace('data', 'dat'), `${entries[i]!.name}/`, '../data.pkl']) };
    else entries.push({ ...entries[i]! });
  } else if (r < 0.75) {
    const bo = entries.findIndex((e) => e.name.endsWith('byteorder'));
    if (bo >= 0) entries[bo] = { ...entries[bo]!, data: utf8(pick(rng, ['big', '', 'little\n', 'x'.repeat(100)])) };
  }
  // Deflate some entries, maybe force ZIP64, then maybe lie in one record field.
  if (rng.uniform() < 0.3) entries = entries.map((e) => ({ ...e, deflate: rng.uniform() < 0.6 }));
  const { bytes, fields } = buildZip(entries, rng.uniform() < 0.15);
  if (rng.uniform() < 0.35 && fields.length) {
    for (let k = 1 + rng.int(2); k > 0; k--) {
      const f = pick(rng, fields);
      putInt(bytes, f.at, f.width, interestingInt(rng, f.width));
    }
  }
  return bytes;
}

function legacyBytes(p: LegacyParts): Uint8Array {
  const parts = [...p.head.map(assemble), assemble(p.main), assemble(p.keys)];
  for (const s of p.storages) {
    const n = new Uint8Array(8);
    putInt(n, 0, 8, s.numel);
    parts.push(n, s.data);
  }
  return concat(parts);
}

function mutateLegacy(seed: LegacyParts, rng: Rng): Uint8Array {
  const p: LegacyParts = { head: [...seed.head], main: seed.main, keys: seed.keys, storages: [...seed.storages] };
  const r = rng.uniform();
  if (r < 0.6) p.main = rounds(rng, p.main, (ops) => mutateOps(ops, rng));
  else if (r < 0.7) p.keys = mutateOps(p.keys, rng);
  else if (r < 0.8) p.head[rng.int(3)] = mutateOps(p.head[rng.int(3)]!, rng);
  else if (p.storages.length) {
    const i = rng.int(p.storages.length);
    const s = p.storages[i]!;
    p.storages[i] = rng.uniform() < 0.6 ? { ...s, numel: pick(rng, INTERESTING_I64) } : { ...s, data: s.data.subarray(0, rng.int(s.data.byteLength + 1)) };
  }
  return legacyBytes(p);
}

// ---------------------------------------------------------------------------------------------- ONNX

type Obj = Record<string, unknown>;

const EVIL_LOCATIONS = [
  '../secret.bin', '../../../../../../etc/passwd', '/etc/passwd', '/dev/zero', '/proc/self/environ', 'link_out.bin', 'link_dev', 'link_in.bin',
  'sub', 'sub/../../secret.bin', 'sub/../weights.bin', '', '.', 'weights.bin\u0000x', 'C:\\Windows\\win.ini', '\\\\server\\share\\x', 'missing.bin',
  'fifo', '%2e%2e/secret.bin', 'weights.bin', './weights.bin', 'sub/', 'x'.repeat(5000),
];
const EVIL_NUMBERS = ['-1', '0', '1', '1e3', '0x10', ' 4', '4096', '4095', '2147483648', '4294967296', '9007199254740993', '18446744073709551615', '', 'NaN', '1.5'];

function mutateTensorProto(t: Obj, rng: Rng): void {
  switch (rng.int(8)) {
    case 0: { // dims
      const dims = [...((t.dims as unknown[]) ?? [])];
      if (dims.length && rng.uniform() < 0.7) dims[rng.int(dims.length)] = Number(pick(rng, INTERESTING_I64));
      else dims.push(pick(rng, [0, 1, -1, 2 ** 31, 2 ** 40]));
      t.dims = dims;
      break;
    }
    case 1: t.dataType = pick(rng, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 255, -1]); break;
    case 2: { // raw data length
      const raw = (t.rawData as Uint8Array | undefined) ?? new Uint8Array(0);
      t.rawData = rng.uniform() < 0.5 ? raw.subarray(0, rng.int(raw.byteLength + 1)) : concat([raw, new Uint8Array(1 + rng.int(16))]);
      break;
    }
    case 3: { // external data entries
      t.dataLocation = 1;
      const ext = [...((t.externalData as Obj[]) ?? [])].map((e) => ({ ...e }));
      const key = pick(rng, ['location', 'location', 'offset', 'length', 'checksum', '']);
      const value = key === 'location' ? pick(rng, EVIL_LOCATIONS) : pick(rng, EVIL_NUMBERS);
      const i = ext.findIndex((e) => e.key === key);
      if (i >= 0 && rng.uniform() < 0.8) ext[i] = { key, value };
      else ext.push({ key, value });
      t.externalData = ext;
      break;
    }
    case 4: t.dataLocation = pick(rng, [0, 1, 2, -1]); break;
    case 5: t.floatData = Array.from({ length: pick(rng, [0, 1, 3, 4, 1000]) }, () => 1.5); break;
    case 6: t.int64Data = Array.from({ length: pick(rng, [0, 1, 2, 5]) }, () => Number(pick(rng, INTERESTING_I64))); break;
    default: t.name = pick(rng, INTERESTING_KEYS);
  }
}

function varint(v: number): Uint8Array {
  const out: number[] = [];
  for (; v >= 0x80; v = Math.floor(v / 128)) out.push((v & 0x7f) | 0x80);
  out.push(v);
  return Uint8Array.from(out);
}

/** A length-delimited protobuf field. */
export const field = (no: number, data: Uint8Array): Uint8Array => concat([varint((no << 3) | 2), varint(data.byteLength), data]);

const deepGraphs = new Map<number, Uint8Array>();

/** GraphProto bytes nested `depth` levels through If-node subgraph attributes (every level is a prefix: linear to build). */
export function deepGraph(depth: number): Uint8Array {
  const cached = deepGraphs.get(depth);
  if (cached) return cached;
  const leaf = field(2, utf8('leaf'));
  const prefixes: Uint8Array[] = [];
  const opType = field(4, utf8('If'));
  const attrName = concat([field(1, utf8('then_branch')), varint(20 << 3), varint(5)]);
  let inner = leaf.byteLength;
  for (let i = 0; i < depth; i++) {
    // graph { node(1) { op_type(4) attribute(5) { name(1) type(20) g(6) { <inner> } } } }
    const g = concat([varint((6 << 3) | 2), varint(inner)]);
    const attr = concat([varint((5 << 3) | 2), varint(attrName.byteLength + g.byteLength + inner)]);
    const nodeLen = opType.byteLength + attr.byteLength + attrName.byteLength + g.byteLength + inner;
    const node = concat([varint((1 << 3) | 2), varint(nodeLen)]);
    const p = concat([node, opType, attr, attrName, g]);
    prefixes.push(p);
    inner += p.byteLength;
  }
  const out = concat([...prefixes.reverse(), leaf]);
  deepGraphs.set(depth, out);
  return out;
}

function mutateOnnxMessage(seed: Uint8Array, rng: Rng): Uint8Array {
  const m = onnx.ModelProto.toObject(onnx.ModelProto.decode(seed), { bytes: Array, longs: Number }) as Obj;
  const graph = (m.graph ?? {}) as Obj;
  const inits = ((graph.initializer as Obj[]) ?? []).map((t) => ({ ...t, rawData: t.rawData ? Uint8Array.from(t.rawData as number[]) : undefined }));
  const r = rng.uniform();
  if (r < 0.75 && inits.length) for (let k = 1 + rng.int(4); k > 0; k--) mutateTensorProto(pick(rng, inits), rng);
  else if (r < 0.85) return concat([onnx.ModelProto.encode(onnx.ModelProto.fromObject(m)).finish(), field(7, deepGraph(pick(rng, [10, 1000, 20000])))]);
  else if (r < 0.92) m.metadataProps = [{ key: pick(rng, ['vizoo_config', 'vizoo_model', ...INTERESTING_KEYS]), value: pick(rng, ['{', '[1]', 'null', '{"numClasses":-1}', ...INTERESTING_KEYS]) }];
  else inits.push(...inits.slice(0, 1 + rng.int(2))); // duplicate names
  graph.initializer = inits;
  m.graph = graph;
  return onnx.ModelProto.encode(onnx.ModelProto.fromObject(m)).finish();
}

/** Wire-level: walk fields (descending into length-delimited ones that parse) and lie in one varint or length. */
function mutateOnnxWire(b: Uint8Array, rng: Rng): Uint8Array {
  const spots: { at: number; len: number; kind: 'varint' | 'length' | 'tag' }[] = [];
  const walk = (start: number, end: number, depth: number) => {
    let p = start;
    while (p < end) {
      const tagAt = p;
      let tag = 0;
      let shift = 0;
      while (p < end && b[p]! & 0x80) tag += (b[p++]! & 0x7f) * 2 ** shift, (shift += 7);
      if (p >= end) return;
      tag += b[p++]! * 2 ** shift;
      spots.push({ at: tagAt, len: p - tagAt, kind: 'tag' });
      const wire = tag % 8;
      const vAt = p;
      if (wire === 0) {
        while (p < end && b[p]! & 0x80) p++;
        p++;
        spots.push({ at: vAt, len: p - vAt, kind: 'varint' });
      } else if (wire === 1) p += 8;
      else if (wire === 5) p += 4;
      else if (wire === 2) {
        let n = 0;
        shift = 0;
        while (p < end && b[p]! & 0x80) n += (b[p++]! & 0x7f) * 2 ** shift, (shift += 7);
        if (p >= end) return;
        n += b[p++]! * 2 ** shift;
        spots.push({ at: vAt, len: p - vAt, kind: 'length' });
        if (p + n > end) return;
        if (depth < 6) walk(p, p + n, depth + 1);
        p += n;
      } else return;
    }
  };
  walk(0, b.byteLength, 0);
  if (!spots.length) return mutateBytes(b, rng);
  const s = pick(rng, spots);
  const v = s.kind === 'tag' ? BigInt(rng.int(1 << 12)) : interestingInt(rng, 8);
  const enc: number[] = [];
  let x = BigInt.asUintN(64, v);
  do {
    const byte = Number(x & 0x7fn);
    x >>= 7n;
    enc.push(x ? byte | 0x80 : byte);
  } while (x);
  return concat([b.subarray(0, s.at), Uint8Array.from(enc), b.subarray(s.at + s.len)]);
}

// ---------------------------------------------------------------------------------------------- all

/** The seeds of `format` as files, unmutated. */
export function seedInputs(format: Format, seeds: Seeds): Uint8Array[] {
  switch (format) {
    case 'safetensors': return seeds.safetensors;
    case 'pth-zip': return seeds.pthZip.map((e) => buildZip(e).bytes);
    case 'pth-legacy': return seeds.pthLegacy.map(legacyBytes);
    case 'onnx': return seeds.onnx;
    case 'image': return seeds.image;
  }
}

/** One fuzz input of `format`, drawn from its seeds. */
export function makeInput(format: Format, seeds: Seeds, rng: Rng): Uint8Array {
  let b: Uint8Array;
  switch (format) {
    case 'safetensors': b = mutateSafetensors(pick(rng, seeds.safetensors), rng); break;
    case 'pth-zip': b = mutatePthZip(pick(rng, seeds.pthZip), rng); break;
    case 'pth-legacy': b = mutateLegacy(pick(rng, seeds.pthLegacy), rng); break;
    case 'onnx': {
      const seed = pick(rng, seeds.onnx);
      b = rng.uniform() < 0.65 ? mutateOnnxMessage(seed, rng) : rounds(rng, seed, (x) => mutateOnnxWire(x, rng));
      break;
    }
    case 'image': b = mutateImage(pick(rng, seeds.image), rng); break;
  }
  if (rng.uniform() < 0.15) b = rounds(rng, b, (x) => mutateBytes(x, rng));
  return b;
}
