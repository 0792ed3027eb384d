/**
 * tfjs-core registers no gradients by itself, and its gradient modules are extension-less ESM that Node
 * cannot import; `npm run build` bundles them into dist/vendor/tfjs-gradients.cjs (scripts/build.mjs).
 * They register into tfjs's global registry, so the copy of the ops they carry runs on the same engine.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../util/package_root.js';

let loaded = false;

export function registerTfjsGradients(): void {
  if (loaded) return;
  const file = join(packageRoot(), 'dist', 'vendor', 'tfjs-gradients.cjs');
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run build\` (it bundles tfjs-core's gradients)`);
  createRequire(import.meta.url)(file);
  loaded = true;
}
