/**
 * safetensors reader and writer (https://github.com/huggingface/safetensors format):
 * u64 little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]},
 * "__metadata__": {str: str}}, then the tensor bytes. Every malformed file is rejected with the file's name.
 * Pure: parses and builds bytes; ./weight_files.ts reads and writes files.
 */
import { DTYPE_BYTES, type HostTensor, type StateDict, bytesOf, dataFromBytes, isDType, numel, typedData } from './host_tensor.js';
import { WeightsFormatError } from '../util/errors.js';
import { quote, summarize } from '../util/summary.js';

export { WeightsFormatError };

/** The reference implementation's cap on the JSON header. */
export const SAFETENSORS_MAX_HEADER = 100_000_000;

export interface SafetensorsFile {
  tensors: StateDict;
  metadata: Record<string, string>;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isIndex = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** Parses safetensors bytes; `file` names the source in errors. */
export function parseSafetensors(bytes: Uint8Array, file = '<buffer>'): SafetensorsFile {
  const fail = (p: string, cause?: unknown): never => {
    throw new WeightsFormatError(file, `not a valid safetensors file: ${p}`, { cause });
  };
  if (bytes.byteLength < 8) fail(`file is ${bytes.byteLength} bytes, shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(bytes.byteLength - 8)) {
    fail(`header length ${n} is larger than the ${bytes.byteLength - 8} bytes that follow it (truncated file?)`);
  }
  if (n > BigInt(SAFETENSORS_MAX_HEADER)) fail(`header length ${n} is over the format's limit of ${SAFETENSORS_MAX_HEADER} bytes`);
  const headerLen = Number(n);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)));
  } catch (cause) {
    fail('header is not valid UTF-8 JSON', cause);
  }
  if (!isPlainObject(header)) fail('header is not a JSON object');
  const dataStart = 8 + headerLen;
  const dataLen = bytes.byteLength - dataStart;
  // One copy of the data section; tensors are views of it (a copy of their own when misaligned).
  const data = bytes.slice(dataStart);
  const entries: { name: string; begin: number; end: number }[] = [];
  const tensors: StateDict = new Map();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    const what = () => `tensor ${quote(name)}`;
    if (name === '__metadata__') {
      if (!isPlainObject(raw)) fail(`__metadata__ is ${summarize(raw)}, not an object`);
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__ entry ${quote(k)} is ${summarize(v)}, not a string`);
      }
      metadata = raw as Record<string, string>;
      continue;
    }
    if (!isPlainObject(raw)) fail(`entry ${quote(name)} is ${summarize(raw)}, not an object`);
    const { dtype, shape, data_offsets: offs } = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof dtype !== 'string' || !isDType(dtype)) fail(`${what()} has unknown dtype ${summarize(dtype)}`);
    if (!Array.isArray(shape) || shape.length > 64 || !shape.every(isIndex)) fail(`${what()} has an invalid shape ${summarize(shape)}`);
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(isIndex)) fail(`${what()} has invalid data_offsets ${summarize(offs)}`);
    const [begin, end] = offs as [number, number];
    const dt = dtype as keyof typeof DTYPE_BYTES;
    const want = numel(shape as number[]) * DTYPE_BYTES[dt];
    if (end < begin || end - begin !== want) {
      fail(`${what()} (${dt} [${shape}]) needs ${want} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`);
    }
    if (end > dataLen) fail(`${what()} ends at byte ${end} but the data section has only ${dataLen} bytes (truncated file?)`);
    entries.push({ name, begin, end });
    const E = DTYPE_BYTES[dt];
    const values = begin % E === 0 ? typedData(dt, data.buffer, begin, (end - begin) / E) : dataFromBytes(dt, data.subarray(begin, end));
    tensors.set(name, { dtype: dt, shape: [...(shape as number[])], data: values });
  }
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const cur = sorted[i]!;
    if (cur.begin < prev.end) fail(`tensors ${quote(prev.name)} and ${quote(cur.name)} overlap (bytes ${cur.begin}..${prev.end})`);
  }
  return { tensors, metadata };
}

/** Serializes tensors in the given order, data contiguous, header padded with spaces to 8 bytes. */
export function serializeSafetensors(tensors: StateDict | Record<string, HostTensor>, metadata?: Record<string, string>): Uint8Array[] {
  const list = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of list) {
    const size = numel(t.shape) * DTYPE_BYTES[t.dtype];
    if (t.data.byteLength !== size) {
      throw new Error(`tensor '${name}': ${t.dtype} [${t.shape}] needs ${size} bytes, its data has ${t.data.byteLength}`);
    }
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (new TextEncoder().encode(json).byteLength % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  return [len, headerBytes, ...list.map(([, t]) => bytesOf(t))];
}
