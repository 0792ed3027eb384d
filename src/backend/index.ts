/**
 * Backend selection: one call picks where tensors live. `auto` prefers tfjs-node-gpu, then tfjs-node,
 * then WebGPU when Dawn finds a hardware adapter, then wasm, then cpu. Asking for a backend that is not
 * there is an error that says what to install.
 */
import { tf } from '../tf.js';
import { getGpuAdapter, isSoftwareAdapter, mayHaveGpu } from './webgpu.js';
import { registerDilationAwareConvGradients, registerWasmConvBackpropKernels } from '../kernels/conv_backprop.js';
import { registerWasmSegmentSum } from '../kernels/segment_sum.js';
import { registerTfjsGradients } from './gradients_node.js';

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

const HOW_TO: Record<BackendName, string> = {
  'node-gpu': 'install @tensorflow/tfjs-node-gpu (npm i @tensorflow/tfjs-node-gpu; it needs CUDA 11.2 and cuDNN 8.1 and downloads libtensorflow at install)',
  node: 'install @tensorflow/tfjs-node (npm i @tensorflow/tfjs-node; it downloads libtensorflow at install)',
  webgpu:
    'no WebGPU adapter was found by Dawn (the `webgpu` package). Needs libvulkan1 and a Vulkan driver; on a CPU-only Linux machine ' +
    "Debian's chromium package ships SwiftShader: export VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json",
  wasm: 'reinstall @tensorflow/tfjs-backend-wasm',
  cpu: 'reinstall @tensorflow/tfjs-backend-cpu',
};

let current: BackendInfo | null = null;

export function currentBackend(): BackendInfo | null {
  return current;
}

/** Imports a backend package (skipped when its backend is registered already, e.g. by a bundle). */
async function importOptional(spec: string, registers?: string): Promise<boolean> {
  if (registers && tf.findBackendFactory(registers)) return true;
  try {
    await import(spec);
    return true;
  } catch {
    return false;
  }
}

async function activate(name: BackendName, allowSoftwareGpu: boolean): Promise<BackendInfo> {
  let tfName: string = name;
  let device: string | undefined;
  switch (name) {
    case 'node-gpu':
    case 'node':
      if (!(await importOptional(name === 'node' ? '@tensorflow/tfjs-node' : '@tensorflow/tfjs-node-gpu'))) {
        throw new BackendUnavailableError(name, HOW_TO[name]);
      }
      tfName = 'tensorflow';
      break;
    case 'webgpu': {
      if (!allowSoftwareGpu && !mayHaveGpu()) throw new BackendUnavailableError(name, 'no GPU device on this machine');
      const adapter = await getGpuAdapter();
      if (!adapter) throw new BackendUnavailableError(name, HOW_TO.webgpu);
      device = adapter.description;
      if (!allowSoftwareGpu && isSoftwareAdapter(adapter)) {
        throw new BackendUnavailableError(name, `only a software adapter (${device}) was found`);
      }
      if (!(await importOptional('@tensorflow/tfjs-backend-webgpu', 'webgpu'))) throw new BackendUnavailableError(name, 'cannot load @tensorflow/tfjs-backend-webgpu');
      break;
    }
    case 'wasm':
      if (!(await importOptional('@tensorflow/tfjs-backend-wasm', 'wasm'))) throw new BackendUnavailableError(name, HOW_TO.wasm);
      break;
    case 'cpu':
      if (!(await importOptional('@tensorflow/tfjs-backend-cpu', 'cpu'))) throw new BackendUnavailableError(name, HOW_TO.cpu);
      break;
  }
  if (tf.findBackendFactory(tfName) === null) throw new BackendUnavailableError(name, HOW_TO[name]);
  let ok = false;
  try {
    ok = await tf.setBackend(tfName);
  } catch (e) {
    throw new BackendUnavailableError(name, `initialization failed (${(e as Error).message})`);
  }
  if (!ok) throw new BackendUnavailableError(name, `initialization failed; ${HOW_TO[name]}`);
  await tf.ready();
  registerTfjsGradients();
  registerDilationAwareConvGradients();
  if (name === 'wasm') {
    registerWasmConvBackpropKernels();
    registerWasmSegmentSum();
  }
  return { name, tfName, device };
}

/**
 * Selects the backend. `auto` tries node-gpu > node > webgpu (hardware adapters only) > wasm > cpu.
 * Returns what was chosen; calling again with the same choice is cheap.
 */
export async function useBackend(choice: BackendChoice | string = 'auto'): Promise<BackendInfo> {
  if (choice !== 'auto' && !(BACKENDS as readonly string[]).includes(choice)) {
    throw new Error(`unknown backend '${choice}': choose one of auto, ${BACKENDS.join(', ')}`);
  }
  if (current && (choice === 'auto' || current.name === choice) && tf.getBackend() === current.tfName) return current;
  if (choice !== 'auto') {
    current = await activate(choice as BackendName, true);
    return current;
  }
  const errors: string[] = [];
  for (const name of BACKENDS) {
    try {
      current = await activate(name, false);
      return current;
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  throw new Error(`no backend could be initialized:\n  ${errors.join('\n  ')}`);
}

/** Backends usable in this process (each probed without switching away from the current one for long). */
export async function availableBackends(): Promise<BackendName[]> {
  const out: BackendName[] = [];
  const before = current;
  for (const name of BACKENDS) {
    try {
      await activate(name, true);
      out.push(name);
    } catch {
      /* not available */
    }
  }
  if (before) current = await activate(before.name, true);
  else current = null;
  return out;
}
