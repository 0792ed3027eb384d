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

/** Saves `model`'s state dict as safetensors (atomic write). */
export async function saveWeights(model: Module, path: string, metadata?: Record<string, string>): Promise<void> {
  writeSafetensors(path, await model.stateDict(), { format: 'pt', ...metadata });
}
