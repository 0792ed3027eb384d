/** The installed package's root folder (Node only): from src/util (sources) or dist/src/util (build). */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | null = null;

export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++, dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return (root = dir);
  }
  throw new Error('cannot locate the vizoo package root');
}
