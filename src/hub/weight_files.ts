/**
 * Weight files on disk: the Node layer over the pure readers (./safetensors.ts, ./pytorch.ts,
 * ./onnx_weights.ts, ./weights.ts). It opens regular files only, reads PyTorch zips by position (a large
 * checkpoint is never held whole), and confines ONNX external data to the model's folder: a location must
 * resolve, symbolic links followed, to a regular file inside that folder.
 */
import { realpathSync } from 'node:fs';
import { dirname, extname, isAbsolute, relative, resolve, sep } from 'node:path';
import onnxProto from 'onnx-proto';
import type { Module } from '../nn/module.js';
import { WeightsFormatError } from '../util/errors.js';
import { atomicWriteFile, fsProblem, openRegularFile, readRegularFile } from '../util/fs.js';
import type { HostTensor, StateDict } from './host_tensor.js';
import { type SafetensorsFile, parseSafetensors, serializeSafetensors } from './safetensors.js';
import { type UnwrapOptions, extractStateDict, withCheckpointObject } from './pytorch.js';
import type { PickleValue } from './pickle.js';
import { ExternalDataError, type ExternalDataOpener, parseOnnxMetadata, parseOnnxWeights } from './onnx_weights.js';
import { type WeightsModelInfo, CONFIG_META, type LoadWeightsOptions, type LoadWeightsResult, MODEL_META, type ReadWeightsOptions, loadStateDictInto, modelInfoFromMetadata, onnxStateDictFor, readWeightsBytes, weightsFormat } from './weights.js';
import type { ByteSource } from './zip.js';

const { onnx } = onnxProto;

const failWith = (path: string) => (problem: string, cause?: unknown): never => {
  throw new WeightsFormatError(path, problem, { cause });
};

/** A weights file opened for reading by position (regular files only). */
export function fileSource(path: string): ByteSource {
  return openRegularFile(path, failWith(path));
}

/** The whole content of a weights file. */
export function readWeightsBytesOf(path: string): Uint8Array {
  return readRegularFile(path, failWith(path));
}

export function readSafetensors(path: string): SafetensorsFile {
  return parseSafetensors(readWeightsBytesOf(path), path);
}

/** Writes a safetensors file atomically (temp file + rename). */
export function writeSafetensors(path: string, tensors: StateDict | Record<string, HostTensor>, metadata?: Record<string, string>): void {
  atomicWriteFile(path, serializeSafetensors(tensors, metadata));
}

/**
 * Opens a PyTorch checkpoint and passes its object tree (Maps for dicts, TensorRef for tensors, not yet
 * copied) to `fn`; storages stay readable until `fn` returns.
 */
export function withTorchObject<T>(path: string, fn: (root: PickleValue) => T): T {
  const src = fileSource(path);
  try {
    return withCheckpointObject(src, path, fn);
  } finally {
    src.close();
  }
}

/** Reads the state dict of a PyTorch checkpoint (see extractStateDict). */
export function readTorchCheckpoint(path: string, opts: UnwrapOptions = {}): StateDict {
  return withTorchObject(path, (root) => extractStateDict(root, path, opts));
}

/**
 * Opens ONNX external data for a model at `modelPath`: `location` must resolve, symbolic links followed, to
 * a regular file inside the model's folder.
 */
export function externalDataBeside(modelPath: string): ExternalDataOpener {
  return (location) => {
    const refuse = (problem: string): never => {
      throw new ExternalDataError(problem);
    };
    let dir: string;
    let real: string;
    try {
      dir = realpathSync(dirname(resolve(modelPath)));
      real = realpathSync(resolve(dir, location));
    } catch (e) {
      return refuse((e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist in the model folder' : `cannot be opened: ${fsProblem(e)}`);
    }
    const rel = relative(dir, real);
    if (!rel || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) refuse('lies outside the model folder (through a symbolic link?)');
    return openRegularFile(real, (p) => refuse(p));
  };
}

/** Every initializer of an ONNX model, by name (in file order); external data from the model's folder only. */
export function readOnnxInitializers(path: string): StateDict {
  return parseOnnxWeights(readWeightsBytesOf(path), path, externalDataBeside(path));
}

/** The metadata_props of an ONNX model. */
export function readOnnxMetadata(path: string): Record<string, string> {
  return parseOnnxMetadata(readWeightsBytesOf(path), path);
}

/** The whole ModelProto (graph included), decoded by protobufjs: for vizoo's own exports and tools, not for weights. */
export function readOnnxModel(path: string): onnxProto.onnx.ModelProto {
  const bytes = readWeightsBytesOf(path);
  try {
    return onnx.ModelProto.decode(bytes);
  } catch (cause) {
    throw new WeightsFormatError(path, 'not a valid ONNX model (its protobuf data does not decode)', { cause });
  }
}

/**
 * Reads a weights file into a state dict (official keys, PyTorch layouts), by extension: .safetensors;
 * .pth/.pt/.bin/.ckpt/.tar (PyTorch checkpoints, unwrapped from `model` / `state_dict` / ... and a `module.`
 * prefix); .onnx (the initializers). Other names are sniffed (zip = PyTorch, JSON header = safetensors).
 */
export function readWeightsFile(path: string, opts: ReadWeightsOptions = {}): StateDict {
  const src = fileSource(path);
  let format;
  try {
    format = weightsFormat(path, src.read(0, Math.min(16, src.size)));
  } catch (e) {
    src.close();
    throw e;
  }
  if (format === 'pytorch') {
    try {
      return withCheckpointObject(src, path, (root) => extractStateDict(root, path, opts));
    } finally {
      src.close();
    }
  }
  src.close();
  return readWeightsBytes(readWeightsBytesOf(path), path, { ...opts, openExternal: opts.openExternal ?? externalDataBeside(path) });
}

/** Loads a weights file into `model`; a state dict that does not fit is an error naming the file. */
export function loadWeights(model: Module, path: string, opts: LoadWeightsOptions = {}): LoadWeightsResult {
  let sd = readWeightsFile(path, opts);
  if (extname(path).toLowerCase() === '.onnx') sd = onnxStateDictFor(model, sd);
  return loadStateDictInto(model, sd, opts, path);
}

/**
 * Saves `model`'s state dict as safetensors (atomic write). A registered model also records its variant name
 * and pretrained config (classes, labels, preprocessing) in the file's metadata.
 */
export async function saveWeights(model: Module, path: string, metadata?: Record<string, string>): Promise<void> {
  const m = model as Module & { variant?: string; pretrainedCfg?: unknown };
  const own: Record<string, string> = { format: 'pt' };
  if (m.variant) own[MODEL_META] = m.variant;
  if (m.pretrainedCfg) own[CONFIG_META] = JSON.stringify(m.pretrainedCfg);
  writeSafetensors(path, await model.stateDict(), { ...own, ...metadata });
}

/** The model name and config a vizoo weights file records, if any. */
export function weightsModelInfo(path: string): WeightsModelInfo {
  const ext = extname(path).toLowerCase();
  if (ext !== '.safetensors' && ext !== '.onnx') return { trained: {} };
  return modelInfoFromMetadata(ext === '.onnx' ? readOnnxMetadata(path) : readSafetensors(path).metadata, path);
}
