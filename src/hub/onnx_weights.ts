/**
 * Weights from ONNX models: the initializers by name, and the model's metadata_props. vizoo's exports name
 * initializers by official state-dict keys in PyTorch layouts, and so does `torch.onnx.export(...,
 * do_constant_folding=False)`, so both load into a vizoo model by name.
 *
 * Pure: reads the ModelProto bytes with the minimal wire reader of ./protobuf.ts (only ModelProto.graph
 * .initializer and metadata_props are decoded). External data (models over 2 GB) comes from an opener the
 * caller gives; the location is checked here to be a plain relative path and the Node opener of
 * ./weight_files.ts confines it to the model's folder. Every failure names the model (and the location).
 */
import { type DType, DTYPE_BYTES, type HostTensor, type StateDict, typedData } from './host_tensor.js';
import { type Fail, type ProtoField, RepeatedNumbers, int32Of, protoFields, stringOf } from './protobuf.js';
import type { ByteSource } from './zip.js';
import { WeightsFormatError } from '../util/errors.js';
import { quote } from '../util/summary.js';

const DTYPES: Record<number, DType> = { 1: 'F32', 2: 'U8', 3: 'I8', 5: 'I16', 6: 'I32', 7: 'I64', 9: 'BOOL', 10: 'F16', 11: 'F64', 16: 'BF16' };

/** ModelProto, GraphProto, TensorProto and StringStringEntryProto field numbers (onnx.proto). */
const MODEL = { graph: 7, metadataProps: 14 };
const GRAPH = { initializer: 5 };
const TENSOR = { dims: 1, dataType: 2, floatData: 4, int32Data: 5, int64Data: 7, name: 8, rawData: 9, doubleData: 10, externalData: 13, dataLocation: 14 };
const ENTRY = { key: 1, value: 2 };
const EXTERNAL = 1;

/**
 * Opens an external data file named by `location` (already checked to be a plain relative path). Throws
 * ExternalDataError for a file it will not or cannot open.
 */
export type ExternalDataOpener = (location: string) => ByteSource;

/** Why an external data file cannot be used, in words that follow `external data "<location>": `. */
export class ExternalDataError extends Error {}

interface TensorFields {
  name: string;
  dims: bigint[];
  dataType: number;
  dataLocation: number;
  raw: Uint8Array | null;
  floats: RepeatedNumbers;
  doubles: RepeatedNumbers;
  int32s: RepeatedNumbers;
  int64s: RepeatedNumbers;
  external: Map<string, string>;
}

function entries(f: ProtoField, fail: Fail): [string, string] {
  let key = '';
  let value = '';
  for (const e of protoFields(f.bytes, fail)) {
    if (e.no === ENTRY.key) key = stringOf(e, fail);
    else if (e.no === ENTRY.value) value = stringOf(e, fail);
  }
  return [key, value];
}

function readTensorFields(bytes: Uint8Array, fail: Fail): TensorFields {
  const t: TensorFields = {
    name: '',
    dims: [],
    dataType: 0,
    dataLocation: 0,
    raw: null,
    floats: new RepeatedNumbers('fixed32', fail),
    doubles: new RepeatedNumbers('fixed64', fail),
    int32s: new RepeatedNumbers('varint32', fail),
    int64s: new RepeatedNumbers('varint64', fail),
    external: new Map(),
  };
  const dims = new RepeatedNumbers('varint64', fail);
  for (const f of protoFields(bytes, fail)) {
    switch (f.no) {
      case TENSOR.dims: dims.add(f); break;
      case TENSOR.dataType: t.dataType = f.wire === 0 ? int32Of(f) : fail('data_type is not a number'); break;
      case TENSOR.name: t.name = stringOf(f, fail); break;
      case TENSOR.rawData: t.raw = f.wire === 2 ? f.bytes : fail('raw_data is not bytes'); break;
      case TENSOR.floatData: t.floats.add(f); break;
      case TENSOR.doubleData: t.doubles.add(f); break;
      case TENSOR.int32Data: t.int32s.add(f); break;
      case TENSOR.int64Data: t.int64s.add(f); break;
      case TENSOR.externalData: {
        if (f.wire !== 2) fail('external_data is not a message');
        const [k, v] = entries(f, fail);
        t.external.set(k, v);
        break;
      }
      case TENSOR.dataLocation: t.dataLocation = f.wire === 0 ? int32Of(f) : fail('data_location is not a number'); break;
      default: break;
    }
  }
  if (dims.count > 64) fail(`initializer ${quote(t.name)} has ${dims.count} dims`);
  t.dims = [...new BigInt64Array(dims.bytes().buffer)];
  return t;
}

/** A checked relative location: no absolute path, drive, `..`, empty or NUL component. */
function checkLocation(location: string): string | null {
  if (!location) return 'is empty';
  if (location.includes('\0')) return 'contains a NUL character';
  if (/^([\\/]|[A-Za-z]:)/.test(location)) return 'is an absolute path; external data must lie in the model folder';
  if (location.split(/[\\/]/).some((p) => p === '..')) return "climbs out of the model folder with '..'";
  return null;
}

const DECIMAL = /^\d{1,16}$/;

function externalBytes(t: TensorFields, want: number, file: string, open: ExternalDataOpener | undefined, fail: Fail): Uint8Array {
  const location = t.external.get('location') ?? '';
  const where = `external data ${quote(location)}`;
  const bad = checkLocation(location);
  if (bad) fail(`${where} ${bad}`);
  if (!open) fail(`${where} is needed, but the model was given as bytes with no files beside it`);
  const number = (key: string, dflt: number): number => {
    const s = t.external.get(key);
    if (s === undefined) return dflt;
    if (!DECIMAL.test(s) || !Number.isSafeInteger(Number(s))) fail(`${where} has ${key} ${quote(s, 24)}, not a non-negative integer`);
    return Number(s);
  };
  const offset = number('offset', 0);
  const length = number('length', want);
  if (length !== want) fail(`${where} has length ${length}, but the tensor needs ${want} bytes`);
  let src: ByteSource;
  try {
    src = open!(location);
  } catch (e) {
    if (e instanceof ExternalDataError) fail(`${where} ${e.message}`);
    throw e;
  }
  try {
    if (offset + length > src.size) fail(`${where} needs bytes ${offset}..${offset + length} but the file has ${src.size} (truncated?)`);
    return src.read(offset, length);
  } finally {
    src.close();
  }
}

/** The typed-field values of an initializer as little-endian bytes of its dtype, or null when it has none. */
function fieldBytes(t: TensorFields, dtype: DType, n: number, fail: Fail): Uint8Array | null {
  const use = (r: RepeatedNumbers): Uint8Array => {
    if (r.count !== n) fail(`has ${r.count} values for ${n} elements`);
    return r.bytes();
  };
  if (dtype === 'F32' && t.floats.count) return use(t.floats);
  if (dtype === 'F64' && t.doubles.count) return use(t.doubles);
  if (dtype === 'I64' && t.int64s.count) return use(t.int64s);
  if (!t.int32s.count) return null;
  // int32_data also carries int8/16, uint8, bool, float16 and bfloat16 (one element per entry).
  const v = new Int32Array(use(t.int32s).buffer);
  switch (dtype) {
    case 'I32': return new Uint8Array(v.buffer);
    case 'I16': return new Uint8Array(Int16Array.from(v).buffer);
    case 'I8': return new Uint8Array(Int8Array.from(v).buffer);
    case 'F16': case 'BF16': return new Uint8Array(Uint16Array.from(v).buffer);
    case 'U8': case 'BOOL': return Uint8Array.from(v);
    default: return fail(`keeps ${dtype} values in int32_data`);
  }
}

/** One initializer as a host tensor (raw data, typed fields or external data). */
function tensorOf(t: TensorFields, file: string, open: ExternalDataOpener | undefined): HostTensor {
  const what = `initializer ${quote(t.name)}`;
  const fail: Fail = (p) => {
    throw new WeightsFormatError(file, `${what} ${p}`);
  };
  const dtype = DTYPES[t.dataType];
  if (!dtype) fail(`has unsupported ONNX data type ${t.dataType}`);
  const shape = t.dims.map((v) => {
    if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`has dimension ${v}; dimensions are non-negative integers`);
    return Number(v);
  });
  let n = 1;
  for (const d of shape) n *= d;
  const E = DTYPE_BYTES[dtype!];
  if (!Number.isSafeInteger(n * E)) fail(`has shape [${shape}], too many elements`);
  const want = n * E;
  let raw: Uint8Array | null;
  if (t.dataLocation === EXTERNAL) raw = externalBytes(t, want, file, open, fail);
  else if (t.raw && t.raw.byteLength) raw = t.raw;
  else raw = fieldBytes(t, dtype!, n, fail) ?? (n === 0 ? new Uint8Array(0) : null);
  if (!raw) fail('has no data');
  if (raw!.byteLength !== want) fail(`(${dtype} [${shape}]) has ${raw!.byteLength} bytes, needs ${want}`);
  return { dtype: dtype!, shape, data: typedData(dtype!, raw!.slice().buffer) };
}

const failFor = (file: string): Fail => (p) => {
  throw new WeightsFormatError(file, `not a valid ONNX model: ${p}`);
};

/** The messages of one field of a message (all occurrences). */
function messages(bytes: Uint8Array, no: number, fail: Fail): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const f of protoFields(bytes, fail)) {
    if (f.no !== no) continue;
    if (f.wire !== 2) fail(`field ${no} is not a message`);
    out.push(f.bytes);
  }
  return out;
}

/**
 * Every initializer of an ONNX model given as bytes, by name (in file order). `file` names it in errors;
 * `openExternal` opens external data files (none: a model with external data is an error).
 */
export function parseOnnxWeights(bytes: Uint8Array, file = '<buffer>', openExternal?: ExternalDataOpener): StateDict {
  const fail = failFor(file);
  const sd: StateDict = new Map();
  for (const graph of messages(bytes, MODEL.graph, fail)) {
    for (const init of messages(graph, GRAPH.initializer, fail)) {
      const t = readTensorFields(init, fail);
      sd.set(t.name, tensorOf(t, file, openExternal));
    }
  }
  return sd;
}

/** The metadata_props of an ONNX model given as bytes. */
export function parseOnnxMetadata(bytes: Uint8Array, file = '<buffer>'): Record<string, string> {
  const fail = failFor(file);
  const out: Record<string, string> = {};
  for (const f of protoFields(bytes, fail)) {
    if (f.no !== MODEL.metadataProps) continue;
    if (f.wire !== 2) fail('metadata_props is not a message');
    const [k, v] = entries(f, fail);
    if (k && k !== '__proto__') out[k] = v;
  }
  return out;
}
