/**
 * Weight files in and out of modules. vizoo's own checkpoints are safetensors under the official keys in
 * PyTorch layouts, so PyTorch's `load_state_dict` reads them and vizoo reads theirs.
 */
import { extname } from 'node:path';
import type { Module, LoadResult } from '../nn/module.js';
import { StateDictError } from '../nn/module.js';
import type { StateDict } from './host_tensor.js';
import { WeightsFormatError, readSafetensors, writeSafetensors } from './safetensors.js';

/** Reads a weights file into a state dict (official keys, PyTorch layouts). */
export function readWeightsFile(path: string): StateDict {
  const ext = extname(path).toLowerCase();
  if (ext === '.safetensors') return readSafetensors(path).tensors;
  throw new WeightsFormatError(path, `unsupported weights format '${ext || '(no extension)'}' (supported: .safetensors)`);
}

/** Loads a weights file into `model`; a state dict that does not fit is an error naming the file. */
export function loadWeights(model: Module, path: string, opts: { strict?: boolean } = {}): LoadResult {
  const sd = readWeightsFile(path);
  try {
    return model.loadStateDict(sd, opts);
  } catch (e) {
    if (e instanceof StateDictError) throw new WeightsFormatError(path, `weights do not fit the model: ${e.message}`);
    throw e;
  }
}

/** Metadata keys naming the model a weights file belongs to (so `--weights F` needs no `--model`). */
export const MODEL_META = 'vizoo_model';
export const CONFIG_META = 'vizoo_config';

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
export function weightsModelInfo(path: string): { model?: string; config?: Record<string, unknown> } {
  if (extname(path).toLowerCase() !== '.safetensors') return {};
  const meta = readSafetensors(path).metadata;
  let config: Record<string, unknown> | undefined;
  if (meta[CONFIG_META]) {
    try {
      config = JSON.parse(meta[CONFIG_META]) as Record<string, unknown>;
    } catch {
      throw new WeightsFormatError(path, `metadata ${CONFIG_META} is not valid JSON`);
    }
  }
  return { model: meta[MODEL_META], config };
}
