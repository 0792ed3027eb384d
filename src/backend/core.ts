/**
 * What backend selection shares between the Node and browser entries: the names, the error, and the step
 * that makes a registered tfjs backend current and adds vizoo's kernels and gradients to it.
 */
import { tf } from '../tf.js';
import { registerDilationAwareConvGradients, registerWasmConvBackpropKernels } from '../kernels/conv_backprop.js';
import { registerWasmSegmentSum } from '../kernels/segment_sum.js';
import { registerWasmGatherRows } from '../kernels/gather_rows.js';
import { registerWasmMatMul } from '../kernels/matmul_simd.js';
import { registerWasmBatchNorm } from '../kernels/batch_norm_simd.js';
import { registerWasmSliceRows } from '../kernels/slice_rows.js';
import { prepareSimdKernels } from '../kernels/simd/kernels.js';

export const BACKENDS = ['node-gpu', 'node', 'webgpu', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];
export type BackendChoice = BackendName | 'auto';

export interface BackendInfo {
  /** vizoo's name for it. */
  name: BackendName;
  /** The tfjs backend name (`tensorflow` for tfjs-node). */
  tfName: string;
  /** Device details when known (WebGPU adapter description). */
  device?: string;
}

export class BackendUnavailableError extends Error {
  constructor(
    readonly backend: string,
    reason: string,
  ) {
    super(`backend '${backend}' is not available: ${reason}`);
    this.name = 'BackendUnavailableError';
  }
}

let current: BackendInfo | null = null;

export function currentBackend(): BackendInfo | null {
  return current;
}

/** The selection `choice` already has, if it is still tfjs's current backend. */
export function alreadySelected(choice: string): BackendInfo | null {
  return current && (choice === 'auto' || current.name === choice) && tf.getBackend() === current.tfName ? current : null;
}

export function setCurrentBackend(info: BackendInfo | null): BackendInfo | null {
  current = info;
  return info;
}

/**
 * Makes the registered tfjs backend `info.tfName` current; `registerGradients` installs tfjs's own
 * gradients (how depends on the platform), then vizoo's kernels and gradients go on top.
 */
export async function activateRegistered(info: BackendInfo, howTo: string, registerGradients: () => void | Promise<void>): Promise<BackendInfo> {
  if (tf.findBackendFactory(info.tfName) === null) throw new BackendUnavailableError(info.name, howTo);
  let ok = false;
  try {
    ok = await tf.setBackend(info.tfName);
  } catch (e) {
    throw new BackendUnavailableError(info.name, `initialization failed (${(e as Error).message}); ${howTo}`);
  }
  if (!ok) throw new BackendUnavailableError(info.name, `initialization failed; ${howTo}`);
  await tf.ready();
  await registerGradients();
  registerDilationAwareConvGradients();
  if (info.name === 'wasm') {
    registerWasmConvBackpropKernels();
    registerWasmSegmentSum();
    registerWasmGatherRows();
    registerWasmMatMul();
    registerWasmBatchNorm();
    registerWasmSliceRows();
    await prepareSimdKernels(tf.backend());
  }
  return info;
}
