/**
 * Packages vizoo imports on first use: heavy ones (sharp) so that start-up does not pay for them, and
 * optional peers (onnxruntime-node, webgpu, tfjs-node) that a user installs only for the features that need
 * them. A missing one is an error that names the package and the feature.
 */
export class MissingPackageError extends Error {
  constructor(
    readonly packageName: string,
    feature: string,
    install = `npm install ${packageName}`,
  ) {
    super(`${feature} needs the package '${packageName}', which is not installed: ${install}`);
    this.name = 'MissingPackageError';
  }
}

function isNotFound(e: unknown, pkg: string): boolean {
  const err = e as NodeJS.ErrnoException;
  return (err?.code === 'ERR_MODULE_NOT_FOUND' || err?.code === 'MODULE_NOT_FOUND') && String(err.message).includes(pkg);
}

/** Imports `pkg`; a MissingPackageError when it is not installed (other load failures pass through). */
export async function importPackage<T>(pkg: string, feature: string, install?: string): Promise<T> {
  try {
    return (await import(pkg)) as T;
  } catch (e) {
    if (isNotFound(e, pkg)) throw new MissingPackageError(pkg, feature, install);
    throw e;
  }
}

type Sharp = (typeof import('sharp'))['default'];
let sharpModule: Sharp | null = null;

/** sharp (image decoding and encoding), loaded once. */
export async function loadSharp(): Promise<Sharp> {
  sharpModule ??= (await importPackage<typeof import('sharp')>('sharp', 'image decoding')).default;
  return sharpModule;
}
