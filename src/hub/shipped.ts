/** Small weights shipped in the package's `weights/` folder, used when no weights are given. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../util/package_root.js';

export function shippedWeightsPath(variant: string): string | null {
  const p = join(packageRoot(), 'weights', `${variant}.safetensors`);
  return existsSync(p) ? p : null;
}
