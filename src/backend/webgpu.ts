/**
 * WebGPU in Node through Dawn (the `webgpu` package). tfjs-backend-webgpu registers itself only if
 * `navigator.gpu` exists when it is imported, so the globals are installed first.
 */
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';

interface AdapterInfo {
  description: string;
  vendor: string;
  architecture: string;
  fallback: boolean;
}

let probed: Promise<AdapterInfo | null> | null = null;

/** Installs Dawn's WebGPU globals (once) and asks for an adapter; null when none is found. */
export function getGpuAdapter(): Promise<AdapterInfo | null> {
  probed ??= probe();
  return probed;
}

async function probe(): Promise<AdapterInfo | null> {
  const g = globalThis as Record<string, unknown> & { navigator?: { gpu?: GpuLike } };
  if (!g.navigator?.gpu) {
    let dawn: { create: (flags: string[]) => GpuLike; globals: Record<string, unknown> };
    try {
      dawn = (await import('webgpu')) as unknown as typeof dawn;
    } catch {
      return null;
    }
    // Mesa's Vulkan WSI prints an error per probe when XDG_RUNTIME_DIR is unset (servers, CI).
    process.env.XDG_RUNTIME_DIR ??= tmpdir();
    Object.assign(globalThis, dawn.globals);
    const flags = (process.env.VIZOO_DAWN_FLAGS ?? '').split(',').filter(Boolean);
    const gpu = dawn.create(flags);
    if (g.navigator) Object.assign(g.navigator, { gpu });
    else g.navigator = { gpu };
  }
  let adapter: AdapterLike | null = null;
  try {
    adapter = await g.navigator!.gpu!.requestAdapter();
  } catch {
    adapter = null;
  }
  if (!adapter) return null;
  const info = adapter.info ?? {};
  return {
    description: String(info.description || info.device || info.vendor || 'unknown adapter'),
    vendor: String(info.vendor ?? ''),
    architecture: String(info.architecture ?? ''),
    fallback: Boolean(adapter.isFallbackAdapter ?? info.isFallbackAdapter),
  };
}

/** SwiftShader / llvmpipe: correct but far slower than wasm, so `auto` does not pick them. */
export function isSoftwareAdapter(a: AdapterInfo): boolean {
  return a.fallback || /swiftshader|llvmpipe|lavapipe|software|cpu/i.test(`${a.description} ${a.vendor} ${a.architecture}`);
}

interface AdapterLike {
  info?: Record<string, unknown>;
  isFallbackAdapter?: boolean;
}
interface GpuLike {
  requestAdapter(): Promise<AdapterLike | null>;
}

/**
 * Whether a Vulkan driver is installed (Linux): without one, Dawn prints loader errors of its own before it
 * gives up, so vizoo does not start it and says what to install instead.
 */
export function hasVulkanDriver(): boolean {
  if (process.platform !== 'linux') return true;
  if (process.env.VK_ICD_FILENAMES || process.env.VK_DRIVER_FILES) return true;
  const dirs = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d'];
  return dirs.some((d) => {
    try {
      return readdirSync(d).some((f) => f.endsWith('.json'));
    } catch {
      return false;
    }
  });
}

/**
 * Whether this machine shows a GPU at all. On Linux without /dev/dri render nodes or /dev/nvidia*, Dawn can
 * only find software rasterizers, and probing it prints driver warnings, so `auto` does not try.
 */
export function mayHaveGpu(): boolean {
  if (process.platform !== 'linux') return true;
  if (process.env.VK_ICD_FILENAMES || process.env.VK_DRIVER_FILES) return true;
  try {
    if (readdirSync('/dev/dri').some((f) => f.startsWith('renderD'))) return true;
  } catch {
    /* no /dev/dri */
  }
  return existsSync('/dev/nvidiactl') || existsSync('/dev/nvidia0');
}
