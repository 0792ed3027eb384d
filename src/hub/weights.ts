/**
 * Weights in and out of modules. vizoo's own checkpoints are safetensors under the official keys in
 * PyTorch layouts, so PyTorch's `load_state_dict` reads them and vizoo reads theirs.
 *
 * Pure: state dicts from bytes and into modules; ./weight_files.ts adds files (readWeightsFile,
 * loadWeights, saveWeights). Every problem with a file's content is a WeightsFormatError naming it.
 */
import type { Module, LoadResult, Parameter } from '../nn/module.js';
import { StateDictError } from '../nn/module.js';
import { reparameterize } from '../nn/reparam.js';
import { type StateDict, TensorDataError } from './host_tensor.js';
import { WeightsFormatError } from '../util/errors.js';
import { summarize } from '../util/summary.js';
import { parseSafetensors } from './safetensors.js';
import { type UnwrapOptions, parseTorchCheckpoint } from './pytorch.js';
import { type ExternalDataOpener, parseOnnxMetadata, parseOnnxWeights } from './onnx_weights.js';
import { type AdaptReport, KeyMapError, mapStateDict } from './keymaps.js';
import { adaptToInputSize } from './input_size.js';
import { type PretrainedConfig, createModel, listModels } from '../models/registry.js';
import { CONFIG_META, MODEL_META, recordedConfig } from './recorded_config.js';

/** Extensions read as PyTorch checkpoints (torch.save zip or legacy format). */
export const TORCH_EXTENSIONS = ['.pth', '.pt', '.bin', '.ckpt', '.tar'];

export interface ReadWeightsOptions extends UnwrapOptions {
  /** ONNX models: opens the external data files their initializers name (the Node reader confines them to the model's folder). */
  openExternal?: ExternalDataOpener;
}

export type WeightsFormat = 'safetensors' | 'pytorch' | 'onnx';

const extensionOf = (name: string): string => /\.[^./\\]*$/.exec(name)?.[0]?.toLowerCase() ?? '';

/**
 * The format of a weights file from its name's extension (.safetensors; .pth/.pt/.bin/.ckpt/.tar; .onnx)
 * or, for other names, its first bytes (a ZIP = PyTorch, a JSON header = safetensors).
 */
export function weightsFormat(name: string, head: Uint8Array): WeightsFormat {
  const ext = extensionOf(name);
  if (ext === '.safetensors') return 'safetensors';
  if (TORCH_EXTENSIONS.includes(ext)) return 'pytorch';
  if (ext === '.onnx') return 'onnx';
  if (head.byteLength >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 3 && head[3] === 4) return 'pytorch';
  if (head.byteLength >= 9 && head[8] === 0x7b) return 'safetensors';
  throw new WeightsFormatError(name, `unsupported weights format '${ext || '(no extension)'}' (supported: .safetensors, ${TORCH_EXTENSIONS.join(', ')}, .onnx)`);
}

/** Reads weights held in memory into a state dict (official keys, PyTorch layouts); `name` gives the format (see weightsFormat) and names it in errors. */
export function readWeightsBytes(bytes: Uint8Array, name: string, opts: ReadWeightsOptions = {}): StateDict {
  switch (weightsFormat(name, bytes.subarray(0, 16))) {
    case 'safetensors': return parseSafetensors(bytes, name).tensors;
    case 'pytorch': return parseTorchCheckpoint(bytes, name, opts);
    case 'onnx': return parseOnnxWeights(bytes, name, opts.openExternal);
  }
}

/** The metadata weights held in memory record (safetensors header, ONNX metadata_props; none for PyTorch). */
export function readWeightsMetadata(bytes: Uint8Array, name: string): Record<string, string> {
  switch (weightsFormat(name, bytes.subarray(0, 16))) {
    case 'safetensors': return parseSafetensors(bytes, name).metadata;
    case 'onnx': return parseOnnxMetadata(bytes, name);
    case 'pytorch': return {};
  }
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
  const wrap = <T>(f: () => T): T => {
    try {
      return f();
    } catch (e) {
      if (e instanceof StateDictError) {
        const fit = e.missing.length > want.size / 2 ? modelsThatFit(sd) : [];
        const hint = fit.length ? `; they fit ${fit.slice(0, 3).join(', ')}${fit.length > 3 ? ', ...' : ''}: pass --model ${fit[0]}` : '';
        throw new WeightsFormatError(file, `${e.message}${hint}`, { cause: e });
      }
      if (e instanceof TensorDataError) throw new WeightsFormatError(file, e.message, { cause: e });
      if (e instanceof KeyMapError) throw new WeightsFormatError(file, e.message, { cause: e });
      throw e;
    }
  };
  const { sd: named, report } = wrap(() => mapStateDict(sd, want, opts.keyMap, new Map([...own].map(([k, p]) => [k, p.shape]))));
  // Position embeddings of another input size are resampled (or refused) before the strict load.
  const mapped = adaptToInputSize(model, named, file);
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

/** Registered models whose every state-dict entry the file has, with the same shape (for a wrong --model). */
export function modelsThatFit(sd: StateDict): string[] {
  const fits: string[] = [];
  for (const name of listModels()) {
    let model: Module | null = null;
    try {
      model = createModel(name, { init: false });
      const mapped = mapStateDict(sd, new Set(model.stateEntries().map(([k]) => k)), 'auto').sd;
      if (model.stateEntries().every(([k, p]) => mapped.get(k)?.shape.join() === p.shape.join())) fits.push(name);
    } catch {
      /* a model the file cannot even be mapped to */
    } finally {
      model?.dispose();
    }
  }
  return fits;
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

/** Metadata keys naming the model a weights file belongs to (so `--weights F` needs no `--model`). */
export { MODEL_META, CONFIG_META } from './recorded_config.js';

/** What a file's metadata records (MODEL_META, CONFIG_META), if anything, checked (a name like a registered one, a sane class count): the model, its config, and the fields that describe the trained weights. */
export interface WeightsModelInfo {
  model?: string;
  config?: Record<string, unknown>;
  trained: Partial<PretrainedConfig>;
}

export function modelInfoFromMetadata(meta: Record<string, string>, file: string): WeightsModelInfo {
  let config: Record<string, unknown> | undefined;
  if (meta[CONFIG_META]) {
    try {
      config = JSON.parse(meta[CONFIG_META]) as Record<string, unknown>;
    } catch (cause) {
      throw new WeightsFormatError(file, `metadata ${CONFIG_META} is not valid JSON`, { cause });
    }
    if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new WeightsFormatError(file, `metadata ${CONFIG_META} is not a JSON object`);
    const n = config.numClasses;
    if (n !== undefined && !(Number.isSafeInteger(n) && (n as number) >= 0 && (n as number) <= 1_000_000)) {
      throw new WeightsFormatError(file, `metadata ${CONFIG_META} has numClasses ${summarize(n)}, not a class count`);
    }
  }
  const model = meta[MODEL_META];
  if (model !== undefined && !/^[\w.\-]{1,100}$/.test(model)) throw new WeightsFormatError(file, `metadata ${MODEL_META} ${summarize(model)} is not a model name`);
  return { model, config, trained: recordedConfig(meta[CONFIG_META]) };
}
