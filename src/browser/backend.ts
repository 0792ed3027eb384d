/**
 * Backend selection in the browser. Every backend is imported by a literal specifier, so bundlers see and
 * package them. `auto`: WebGPU on a hardware adapter, then wasm (multi-threaded when the page is
 * cross-origin isolated), then cpu.
 */
import { type BackendInfo, type BackendName, BackendUnavailableError, activateRegistered, alreadySelected, setCurrentBackend } from '../backend/core.js';

export { type BackendInfo, BackendUnavailableError, currentBackend } from '../backend/core.js';
export { wasmSimdStatus } from '../kernels/simd/kernels.js';

export const BROWSER_BACKENDS = ['webgpu', 'wasm', 'cpu'] as const;
export type BrowserBackend = (typeof BROWSER_BACKENDS)[number];

export interface BrowserBackendOptions {
  /**
   * Where the tfjs wasm binaries are served (a folder URL ending in '/', or a map of file names to URLs):
   * the files `tfjs-backend-wasm*.wasm` of @tensorflow/tfjs-backend-wasm/dist. Default: beside the page.
   */
  wasmPaths?: string | Record<string, string>;
}

interface GpuAdapterLike {
  isFallbackAdapter?: boolean;
  info?: { vendor?: string; architecture?: string; description?: string; isFallbackAdapter?: boolean };
}

let gradients: Promise<void> | null = null;

/** tfjs-core's own gradients (bundlers resolve its extension-less ES modules). */
function registerTfjsGradients(): Promise<void> {
  gradients ??= import('@tensorflow/tfjs-core/dist/register_all_gradients.js').then(() => undefined);
  return gradients;
}

async function webgpuAdapter(allowSoftware: boolean): Promise<string> {
  const gpu = (globalThis.navigator as { gpu?: { requestAdapter(): Promise<GpuAdapterLike | null> } } | undefined)?.gpu;
  if (!gpu) throw new BackendUnavailableError('webgpu', 'this browser has no WebGPU (navigator.gpu); use a browser with WebGPU enabled, or the wasm backend');
  const adapter = await gpu.requestAdapter().catch(() => null);
  if (!adapter) throw new BackendUnavailableError('webgpu', 'the browser found no WebGPU adapter (is hardware acceleration enabled?)');
  const info = adapter.info ?? {};
  const description = [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'WebGPU adapter';
  if (!allowSoftware && (adapter.isFallbackAdapter || info.isFallbackAdapter)) {
    throw new BackendUnavailableError('webgpu', `only a software adapter (${description}) was found`);
  }
  return description;
}

async function activate(name: BrowserBackend, opts: BrowserBackendOptions, allowSoftwareGpu: boolean): Promise<BackendInfo> {
  let device: string | undefined;
  let howTo = '';
  if (name === 'webgpu') {
    device = await webgpuAdapter(allowSoftwareGpu);
    await import('@tensorflow/tfjs-backend-webgpu');
    howTo = 'the WebGPU backend failed to start in this browser; use the wasm backend';
  } else if (name === 'wasm') {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    // tfjs picks the threaded binary by itself when SharedArrayBuffer exists (a cross-origin isolated page).
    if (opts.wasmPaths) wasm.setWasmPaths(opts.wasmPaths as string, true);
    howTo =
      "serve the files tfjs-backend-wasm.wasm, tfjs-backend-wasm-simd.wasm and tfjs-backend-wasm-threaded-simd.wasm of @tensorflow/tfjs-backend-wasm/dist and pass their folder: useBackend('wasm', { wasmPaths: '/wasm/' })";
  } else {
    await import('@tensorflow/tfjs-backend-cpu');
    howTo = 'the cpu backend failed to start';
  }
  return activateRegistered({ name: name as BackendName, tfName: name, device }, howTo, registerTfjsGradients);
}

/** Selects the backend (see the file comment for `auto`); calling again with the same choice is cheap. */
export async function useBackend(choice: BrowserBackend | 'auto' = 'auto', opts: BrowserBackendOptions = {}): Promise<BackendInfo> {
  if (choice !== 'auto' && !(BROWSER_BACKENDS as readonly string[]).includes(choice)) {
    throw new Error(`unknown backend '${choice}': in the browser choose auto, ${BROWSER_BACKENDS.join(', ')}`);
  }
  const selected = alreadySelected(choice);
  if (selected) return selected;
  if (choice !== 'auto') return setCurrentBackend(await activate(choice, opts, true))!;
  const errors: string[] = [];
  for (const name of BROWSER_BACKENDS) {
    try {
      return setCurrentBackend(await activate(name, opts, false))!;
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  throw new Error(`no backend could be initialized:\n  ${errors.join('\n  ')}`);
}
