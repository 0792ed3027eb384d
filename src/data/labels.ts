/** Label sets named by pretrained configs. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { FASHION_MNIST_CLASSES } from './fashion_mnist.js';
import { CITYSCAPES_CLASSES } from './palette.js';

/** Package root, from src/data (sources) or dist/src/data (build). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      readFileSync(join(dir, 'package.json'));
      return dir;
    } catch {
      dir = dirname(dir);
    }
  }
  throw new Error('cannot locate the vizoo package root');
}

const cache = new Map<string, string[]>();

const FILES: Record<string, string> = {
  'imagenet-1k': 'assets/imagenet1k_labels.txt',
};

/** Label sets small enough to live in code. */
const INLINE: Record<string, readonly string[]> = {
  'fashion-mnist': FASHION_MNIST_CLASSES,
  cityscapes: CITYSCAPES_CLASSES,
};

/** Resolves a config's labels (a set name or explicit names) to `numClasses` names; indices fill gaps. */
export function resolveLabels(labels: string | string[] | undefined, numClasses: number): string[] {
  let names: string[] = [];
  if (Array.isArray(labels)) names = labels;
  else if (labels && INLINE[labels]) names = [...INLINE[labels]!];
  else if (labels && FILES[labels]) {
    names = cache.get(labels) ?? readFileSync(join(packageRoot(), FILES[labels]!), 'utf8').split('\n').filter(Boolean).map((s) => s.replace(/_/g, ' '));
    cache.set(labels, names);
  }
  if (names.length !== numClasses) names = Array.from({ length: numClasses }, (_, i) => names[i] ?? `class ${i}`);
  return names;
}
