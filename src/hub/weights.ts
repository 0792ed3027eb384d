/**
 * Weight files in and out of modules. vizoo's own checkpoints are safetensors under the official keys in
 * PyTorch layouts, so PyTorch's `load_state_dict` reads them and vizoo reads theirs.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { extname } from 'node:path';
import type { Module, LoadResult, Parameter } from '../nn/module.js';
import { StateDictError } from '../nn/module.js';
import { reparameterize } from '../nn/reparam.js';
import { type StateDict } from './host_tensor.js';
import { WeightsFormatError, parseSafetensors, readSafetensors, readingWeights, writeSafetensors } from './safetensors.js';
import { readTorchCheckpoint } from './pytorch.js';
import { onnxMetadata, readOnnxInitializers, readOnnxModel } from './onnx_weights.js';
import { type AdaptReport, mapStateDict } from './keymaps.js';
import { adaptToInputSize } from './input_size.js';
import { createModel, listModels } from '../models/registry.js';
import { CONFIG_META, MODEL_META, recordedConfig } from './recorded_config.js';
import type { PretrainedConfig } from '../models/registry.js';

/** Extensions read as PyTorch checkpoints (torch.save zip or legacy format). */
export const TORCH_EXTENSIONS = ['.pth', '.pt', '.bin', '.ckpt', '.tar'];

export interface ReadWeightsOptions {
  /** PyTorch checkpoints: the key (or dotted path) holding the state dict; default: found automatically. */
  checkpointKey?: string;
}

function sniff(path: string): 'zip' | 'safetensors' | 'unknown' {
  const fd = readingWeights(path, (p) => openSync(p, 'r'));
  const head = new Uint8Array(16);
  const n = readSync(fd, head, 0, 16, 0);
  closeSync(fd);
  if (n >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 3 && head[3] === 4) return 'zip';
  if (n >= 9 && head[8] === 0x7b) return 'safetensors';
  return 'unknown';
}

/**
 * Reads a weights file into a state dict (official keys, PyTorch layouts), by extension: .safetensors;
 * .pth/.pt/.bin/.ckpt/.tar (PyTorch checkpoints, unwrapped from `model` / `state_dict` / ... and a `module.`
 * prefix); .onnx (the initializers). Other names are sniffed (zip = PyTorch, JSON header = safetensors).
 */
export function readWeightsFile(path: string, opts: ReadWeightsOptions = {}): StateDict {
  const ext = extname(path).toLowerCase();
  if (ext === '.safetensors') return readSafetensors(path).tensors;
  if (TORCH_EXTENSIONS.includes(ext)) return readTorchCheckpoint(path, opts);
  if (ext === '.onnx') return readOnnxInitializers(path);
  const kind = sniff(path);
  if (kind === 'zip') return readTorchCheckpoint(path, opts);
  if (kind === 'safetensors') return readSafetensors(path).tensors;
  throw new WeightsFormatError(path, `unsupported weights format '${ext || '(no extension)'}' (supported: .safetensors, ${TORCH_EXTENSIONS.join(', ')}, .onnx)`);
}

/** Reads weights from bytes (the browser entry); `file` names them in errors. */
export function readWeightsBytes(bytes: Uint8Array, file: string, _opts: ReadWeightsOptions = {}): StateDict {
  return parseSafetensors(bytes, file).tensors;
}

export interface LoadWeightsOptions extends ReadWeightsOptions {
  strict?: boolean;
  /** Key map to apply: 'auto' (default: chosen by the file's keys), 'none', or a name from KEY_MAPS. */
  keyMap?: string;
}

export interface LoadWeightsResult extends LoadResult {
  report: AdaptReport & { reparameterized?: string };
}

/** Deploy-form variants ('<train>_deploy') and their train form, when the model is one and both are registered. */
type DeployAware = Module & { variant?: string; numClasses?: number; backbone?: { variant?: string } };

/**
 * Loads a state dict into `model` after mapping foreign keys (see mapStateDict) and adapting position
 * embeddings of another input size (see adaptToInputSize). A deploy-form model given a train-form checkpoint
 * builds the train form, loads it, re-parameterizes it and takes its weights.
 */
export function loadStateDictInto(model: Module, sd: StateDict, opts: LoadWeightsOptions = {}, file = '<state dict>'): LoadWeightsResult {
  const own = new Map(model.stateEntries());
  const want = new Set(own.keys());
  const { sd: named, report } = mapStateDict(sd, want, opts.keyMap, new Map([...own].map(([k, p]) => [k, p.shape])));
  // Position embeddings of another input size are resampled (or refused) before the strict load.
  const mapped = adaptToInputSize(model, named, file);
  const wrap = <T>(f: () => T): T => {
    try {
      return f();
    } catch (e) {
      if (e instanceof StateDictError) throw new WeightsFormatError(file, `weights do not fit the model: ${e.message}`);
      throw e;
    }
  };
  const fits = [...want].every((k) => mapped.has(k));
  const m = model as DeployAware;
  const variant = m.variant ?? m.backbone?.variant;
  if (!fits && variant?.endsWith('_deploy')) {
    const train = trainFormFor(variant, mapped, m.numClasses);
    if (train) {
      try {
        wrap(() => train.model.loadStateDict(mapped, { strict: opts.strict ?? true }));
        reparameterize(train.model.eval());
        const trained = new Map(train.model.stateEntries());
        for (const [k, p] of own) {
          const q = trained.get(k);
          if (!q) throw new WeightsFormatError(file, `re-parameterized ${train.name} has no '${k}' for ${variant}`);
          copyParameter(p, q, k, file);
        }
      } finally {
        train.model.dispose();
      }
      return { missing: [], unexpected: [], report: { ...report, reparameterized: train.name } };
    }
  }
  const r = wrap(() => model.loadStateDict(mapped, { strict: opts.strict ?? true }));
  return { ...r, report };
}

function copyParameter(dst: Parameter, src: Parameter, key: string, file: string): void {
  if (dst.tfShape.join() !== src.tfShape.join()) throw new WeightsFormatError(file, `re-parameterized '${key}' has tfjs shape [${src.tfShape}], the model [${dst.tfShape}]`);
  dst.assignTf(src.value);
}

/** The registry's train form of a deploy variant ('<name>_deploy' -> '<name>'), built uninitialized, when `sd` has all its keys. */
function trainFormFor(variant: string, sd: StateDict, numClasses?: number): { name: string; model: Module } | null {
  const name = variant.slice(0, -'_deploy'.length);
  if (!listModels(name).includes(name)) return null;
  const model = createModel(name, { init: false, numClasses });
  if (!model.stateEntries().every(([k]) => sd.has(k))) {
    model.dispose();
    return null;
  }
  return { name, model };
}

/** Loads a weights file into `model`; a state dict that does not fit is an error naming the file. */
export function loadWeights(model: Module, path: string, opts: LoadWeightsOptions = {}): LoadWeightsResult {
  let sd = readWeightsFile(path, opts);
  if (extname(path).toLowerCase() === '.onnx') sd = onnxStateDictFor(model, sd);
  return loadStateDictInto(model, sd, opts, path);
}

/**
 * The model's entries among an ONNX file's initializers (the others are graph constants). `num_batches_tracked`
 * counters, which exporters drop as unused, are filled with 0.
 */
export function onnxStateDictFor(model: Module, initializers: StateDict): StateDict {
  const out: StateDict = new Map();
  for (const [k] of model.stateEntries()) {
    const t = initializers.get(k);
    if (t) out.set(k, t);
    else if (k.endsWith('num_batches_tracked')) out.set(k, { dtype: 'I64', shape: [], data: BigInt64Array.from([0n]) });
  }
  return out;
}

/**
 * What a checkpoint of `model` holds, without reading any value: [key, PyTorch shape, dtype] in state dict
 * order, exactly as saveWeights / writeTorchCheckpoint write it (float32 parameters and buffers, int64
 * counters). The official PyTorch code loads files with this layout with `load_state_dict`.
 */
export function checkpointLayout(model: Module): [string, number[], 'F32' | 'I64'][] {
  return model.stateEntries().map(([k, p]) => [k, [...p.shape], p.dtype === 'int64' ? 'I64' : 'F32']);
}

export { MODEL_META, CONFIG_META } from './recorded_config.js';

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

/** The model name and config a vizoo weights file records, if any (`trained`: the fields that describe its weights). */
export function weightsModelInfo(path: string): { model?: string; config?: Record<string, unknown>; trained: Partial<PretrainedConfig> } {
  const ext = extname(path).toLowerCase();
  if (ext !== '.safetensors' && ext !== '.onnx') return { trained: {} };
  const meta = ext === '.onnx' ? onnxMetadata(readOnnxModel(path)) : readSafetensors(path).metadata;
  let config: Record<string, unknown> | undefined;
  if (meta[CONFIG_META]) {
    try {
      config = JSON.parse(meta[CONFIG_META]) as Record<string, unknown>;
    } catch {
      throw new WeightsFormatError(path, `metadata ${CONFIG_META} is not valid JSON`);
    }
  }
  return { model: meta[MODEL_META], config, trained: recordedConfig(meta[CONFIG_META]) };
}
