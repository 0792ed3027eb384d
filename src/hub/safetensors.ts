/**
 * safetensors reader and writer (https://github.com/huggingface/safetensors format):
 * u64 little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]},
 * "__metadata__": {str: str}}, then the tensor bytes. Every malformed file is rejected with the file's name.
 */
import { readFileSync } from 'node:fs';
import { atomicWriteFile } from '../util/fs.js';
import { DTYPE_BYTES, type HostTensor, type StateDict, bytesOf, dataFromBytes, isDType, numel } from './host_tensor.js';
import { FileError } from '../util/errors.js';

export class WeightsFormatError extends FileError {}

/** Runs `open(path)`; a file that cannot be opened or read is a WeightsFormatError naming it and the cause. */
export function readingWeights<T>(path: string, open: (path: string) => T): T {
  try {
    return open(path);
  } catch (e) {
    throw new WeightsFormatError(path, `cannot read file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

export interface SafetensorsFile {
  tensors: StateDict;
  metadata: Record<string, string>;
}

/** Parses safetensors bytes; `file` names the source in errors. */
export function parseSafetensors(bytes: Uint8Array, file = '<buffer>'): SafetensorsFile {
  const fail = (p: string): never => {
    throw new WeightsFormatError(file, `not a valid safetensors file: ${p}`);
  };
  if (bytes.byteLength < 8) fail(`file is ${bytes.byteLength} bytes, shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(bytes.byteLength - 8)) {
    fail(`header length ${n} is larger than the ${bytes.byteLength - 8} bytes that follow it (truncated file?)`);
  }
  const headerLen = Number(n);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)));
  } catch (e) {
    fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
  const dataStart = 8 + headerLen;
  const dataLen = bytes.byteLength - dataStart;
  const entries: { name: string; begin: number; end: number }[] = [];
  const tensors: StateDict = new Map();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__.${k} is not a string`);
      }
      metadata = raw as Record<string, string>;
      continue;
    }
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof info !== 'object' || info === null) fail(`entry '${name}' is not an object`);
    const { dtype, shape, data_offsets: offs } = info;
    if (typeof dtype !== 'string' || !isDType(dtype)) fail(`tensor '${name}' has unknown dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`tensor '${name}' has an invalid shape ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      fail(`tensor '${name}' has invalid data_offsets ${JSON.stringify(offs)}`);
    }
    const [begin, end] = offs as [number, number];
    const dt = dtype as keyof typeof DTYPE_BYTES;
    const want = numel(shape as number[]) * DTYPE_BYTES[dt];
    if (end < begin || end - begin !== want) {
      fail(`tensor '${name}' (${dt} [${shape}]) needs ${want} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`);
    }
    if (end > dataLen) fail(`tensor '${name}' ends at byte ${end} but the data section has only ${dataLen} bytes (truncated file?)`);
    entries.push({ name, begin, end });
    tensors.set(name, { dtype: dt, shape: [...(shape as number[])], data: dataFromBytes(dt, bytes.subarray(dataStart + begin, dataStart + end)) });
  }
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const cur = sorted[i]!;
    if (cur.begin < prev.end) fail(`tensors '${prev.name}' and '${cur.name}' overlap (bytes ${cur.begin}..${prev.end})`);
  }
  return { tensors, metadata };
}

export function readSafetensors(path: string): SafetensorsFile {
  const buf = readingWeights(path, (p) => readFileSync(p));
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  return parseSafetensors(bytes, path);
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

/** Writes a safetensors file atomically (temp file + rename). */
export function writeSafetensors(path: string, tensors: StateDict | Record<string, HostTensor>, metadata?: Record<string, string>): void {
  atomicWriteFile(path, serializeSafetensors(tensors, metadata));
}
