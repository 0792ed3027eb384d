/**
 * Weights from ONNX files: the initializers by name. vizoo's exports name them by official state-dict keys
 * in PyTorch layouts, and so does `torch.onnx.export(..., do_constant_folding=False)`, so both load into a
 * vizoo model by name. External data (models over 2 GB) is read from the files beside the model.
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { dirname, join } from 'node:path';
import onnxProto from 'onnx-proto';
import { type DType, DTYPE_BYTES, type HostTensor, type StateDict, dataFromBytes, numel } from './host_tensor.js';
import { WeightsFormatError, readingWeights } from './safetensors.js';

const { onnx } = onnxProto;

const DTYPES: Record<number, DType> = { 1: 'F32', 2: 'U8', 3: 'I8', 5: 'I16', 6: 'I32', 7: 'I64', 9: 'BOOL', 10: 'F16', 11: 'F64', 16: 'BF16' };

export function readOnnxModel(path: string): onnxProto.onnx.ModelProto {
  const bytes = readingWeights(path, (p) => readFileSync(p));
  try {
    return onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new WeightsFormatError(path, `not a valid ONNX model (${(e as Error).message})`);
  }
}

/** The metadata_props of an ONNX model. */
export function onnxMetadata(model: onnxProto.onnx.IModelProto): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of model.metadataProps ?? []) if (p.key) out[p.key] = p.value ?? '';
  return out;
}

function toNumber(v: number | { toNumber(): number }): number {
  return typeof v === 'number' ? v : v.toNumber();
}

/** One initializer as a host tensor (raw data, typed fields or external data). */
export function tensorFromProto(t: onnxProto.onnx.ITensorProto, file: string, baseDir: string): HostTensor {
  const dtype = DTYPES[t.dataType ?? 0];
  const name = t.name ?? '?';
  if (!dtype) throw new WeightsFormatError(file, `initializer '${name}' has unsupported ONNX data type ${t.dataType}`);
  const shape = (t.dims ?? []).map((d) => toNumber(d as number));
  const n = numel(shape);
  const want = n * DTYPE_BYTES[dtype];
  let raw: Uint8Array | null = null;
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    const kv = new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
    const location = kv.get('location');
    if (!location) throw new WeightsFormatError(file, `initializer '${name}' has external data without a location`);
    const offset = Number(kv.get('offset') ?? 0);
    const length = Number(kv.get('length') ?? want);
    const fd = openSync(join(baseDir, location), 'r');
    try {
      raw = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const r = readSync(fd, raw, done, length - done, offset + done);
        if (r === 0) throw new WeightsFormatError(file, `external data of '${name}' in ${location} is truncated`);
        done += r;
      }
    } finally {
      closeSync(fd);
    }
  } else if (t.rawData && t.rawData.byteLength) {
    raw = t.rawData;
  } else if (dtype === 'F32' && t.floatData?.length) raw = new Uint8Array(Float32Array.from(t.floatData).buffer);
  else if (dtype === 'F64' && t.doubleData?.length) raw = new Uint8Array(Float64Array.from(t.doubleData).buffer);
  else if (dtype === 'I64' && t.int64Data?.length) raw = new Uint8Array(BigInt64Array.from(t.int64Data.map((v) => BigInt(toNumber(v as number)))).buffer);
  else if (t.int32Data?.length) {
    // int32_data also carries int8/16, uint8, bool, float16 and bfloat16 (one element per entry).
    const v = t.int32Data;
    if (dtype === 'I32') raw = new Uint8Array(Int32Array.from(v).buffer);
    else if (dtype === 'I16') raw = new Uint8Array(Int16Array.from(v).buffer);
    else if (dtype === 'I8') raw = new Uint8Array(Int8Array.from(v).buffer);
    else if (dtype === 'F16' || dtype === 'BF16') raw = new Uint8Array(Uint16Array.from(v).buffer);
    else raw = Uint8Array.from(v);
  } else if (n === 0) raw = new Uint8Array(0);
  if (!raw) throw new WeightsFormatError(file, `initializer '${name}' has no data`);
  if (raw.byteLength !== want) throw new WeightsFormatError(file, `initializer '${name}' (${dtype} [${shape}]) has ${raw.byteLength} bytes, needs ${want}`);
  return { dtype, shape, data: dataFromBytes(dtype, raw) };
}

/** Every initializer of an ONNX model, by name (in file order). */
export function readOnnxInitializers(path: string): StateDict {
  const model = readOnnxModel(path);
  const sd: StateDict = new Map();
  for (const t of model.graph?.initializer ?? []) sd.set(t.name ?? '', tensorFromProto(t, path, dirname(path)));
  return sd;
}
