/**
 * Backend selection: one call picks where tensors live. `auto` prefers tfjs-node-gpu, then tfjs-node,
 * then WebGPU when Dawn finds a hardware adapter, then wasm, then cpu. Asking for a backend that is not
 * there is an error that says what to install.
 */
import { tf } from '../tf.js';
import { getGpuAdapter, hasVulkanDriver, isSoftwareAdapter, mayHaveGpu } from './webgpu.js';
import { registerTfjsGradients } from './gradients_node.js';
import { requestedWasmThreads, startThreadedWasm } from './wasm_threads.js';
import { BACKENDS, type BackendChoice, type BackendInfo, type BackendName, BackendUnavailableError, activateRegistered, alreadySelected, currentBackend, setCurrentBackend } from './core.js';

export { BACKENDS, type BackendChoice, type BackendInfo, type BackendName, BackendUnavailableError, currentBackend } from './core.js';
export { wasmSimdStatus } from '../kernels/simd/kernels.js';

const HOW_TO: Record<BackendName, string> = {
  'node-gpu': 'install @tensorflow/tfjs-node-gpu (npm i @tensorflow/tfjs-node-gpu; it needs CUDA 11.2 and cuDNN 8.1 and downloads libtensorflow at install)',
  node: 'install @tensorflow/tfjs-node (npm i @tensorflow/tfjs-node; it downloads libtensorflow at install)',
  webgpu:
    'no WebGPU adapter was found by Dawn (the `webgpu` package). Needs libvulkan1 and a Vulkan driver; on a CPU-only Linux machine ' +
    "Debian's chromium package ships SwiftShader: export VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json",
  wasm: 'reinstall @tensorflow/tfjs-backend-wasm',
  cpu: 'reinstall @tensorflow/tfjs-backend-cpu',
};

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
      if (!(await importOptional('webgpu'))) throw new BackendUnavailableError(name, "WebGPU in Node needs the optional package 'webgpu' (Dawn), which is not installed: npm install webgpu");
      if (!hasVulkanDriver()) throw new BackendUnavailableError(name, HOW_TO.webgpu);
      const adapter = await getGpuAdapter();
      if (!adapter) throw new BackendUnavailableError(name, HOW_TO.webgpu);
      device = adapter.description;
      if (!allowSoftwareGpu && isSoftwareAdapter(adapter)) {
        throw new BackendUnavailableError(name, `only a software adapter (${device}) was found`);
      }
      if (!(await importOptional('@tensorflow/tfjs-backend-webgpu', 'webgpu'))) throw new BackendUnavailableError(name, 'cannot load @tensorflow/tfjs-backend-webgpu');
      break;
    }
    case 'wasm': {
      if (!(await importOptional('@tensorflow/tfjs-backend-wasm', 'wasm'))) throw new BackendUnavailableError(name, HOW_TO.wasm);
      await requestRelaxedSimd();
      const start = () => withoutEmscriptenHandlers(() => activateRegistered({ name, tfName, device }, HOW_TO[name], registerTfjsGradients));
      // The thread count is fixed when the module starts: only the first start can ask for threads.
      const threads = requestedWasmThreads();
      return threads > 1 && !tf.findBackend('wasm') ? startThreadedWasm(threads, start) : start();
    }
    case 'cpu':
      if (!(await importOptional('@tensorflow/tfjs-backend-cpu', 'cpu'))) throw new BackendUnavailableError(name, HOW_TO.cpu);
      break;
  }
  return activateRegistered({ name, tfName, device }, HOW_TO[name], registerTfjsGradients);
}

/**
 * VIZOO_WASM_RELAXED_SIMD=1: turns on V8's relaxed SIMD before vizoo's SIMD kernels are compiled, so that
 * their multiply-adds are fused (Node 20 has it behind --experimental-wasm-relaxed-simd; Node 22 and
 * browsers have it on, and the kernels use it there without this).
 */
async function requestRelaxedSimd(): Promise<void> {
  if (process.env.VIZOO_WASM_RELAXED_SIMD !== '1') return;
  const v8 = await import('node:v8');
  v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
}

/**
 * The wasm module's Emscripten glue installs process handlers that turn any later uncaught error of the
 * program into a rethrow from inside tfjs with exit code 7; vizoo removes them so errors surface as Node's own.
 */
async function withoutEmscriptenHandlers<T>(start: () => Promise<T>): Promise<T> {
  const listeners = () => [...process.listeners('uncaughtException'), ...process.listeners('unhandledRejection')] as ((...args: unknown[]) => void)[];
  const before = new Set(listeners());
  try {
    return await start();
  } finally {
    for (const l of listeners()) {
      if (before.has(l)) continue;
      process.removeListener('uncaughtException', l);
      process.removeListener('unhandledRejection', l);
    }
  }
}

/**
 * Selects the backend. `auto` tries node-gpu > node > webgpu (hardware adapters only) > wasm > cpu.
 * Returns what was chosen; calling again with the same choice is cheap.
 */
export async function useBackend(choice: BackendChoice | string = 'auto'): Promise<BackendInfo> {
  if (choice !== 'auto' && !(BACKENDS as readonly string[]).includes(choice)) {
    throw new Error(`unknown backend '${choice}': choose one of auto, ${BACKENDS.join(', ')}`);
  }
  const selected = alreadySelected(choice);
  if (selected) return selected;
  if (choice !== 'auto') return setCurrentBackend(await activate(choice as BackendName, true))!;
  const errors: string[] = [];
  for (const name of BACKENDS) {
    try {
      return setCurrentBackend(await activate(name, false))!;
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  throw new Error(`no backend could be initialized:\n  ${errors.join('\n  ')}`);
}

/** Backends usable in this process (each probed without switching away from the current one for long). */
export async function availableBackends(): Promise<BackendName[]> {
  const out: BackendName[] = [];
  const before = currentBackend();
  for (const name of BACKENDS) {
    try {
      await activate(name, true);
      out.push(name);
    } catch {
      /* not available */
    }
  }
  setCurrentBackend(before ? await activate(before.name, true) : null);
  return out;
}
