/**
 * `--data <spec>`: `fashion-mnist`, `synthetic:shapes[:N]`, `synthetic:seg-shapes[:N]`, a folder of class
 * sub-folders (or with train/ and val|test/ splits), or a segmentation folder (images/ + masks/).
 * Prefixes `folder:` and `segfolder:` force the folder kind.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Dataset } from './dataset.js';
import { FashionMNIST } from './fashion_mnist.js';
import { ImageFolder, SegmentationFolder } from './image_folder.js';
import { SyntheticShapes, SyntheticShapesSegmentation } from './synthetic.js';

export type Split = 'train' | 'val' | 'test';

const isDir = (p: string) => existsSync(p) && statSync(p).isDirectory();

/** Whether `spec` has evaluation data of its own (a folder without val/ or test/ has only its training images). */
export function hasEvalSplit(spec: string): boolean {
  if (spec === 'fashion-mnist' || spec.startsWith('synthetic:')) return true;
  const path = spec.replace(/^(folder|segfolder):/, '');
  return ['val', 'test', 'validation'].some((n) => isDir(join(path, n)));
}

export function openDataset(spec: string, split: Split = 'train'): Dataset {
  const evalSplit = split !== 'train';
  if (spec === 'fashion-mnist') return new FashionMNIST(evalSplit ? 'test' : 'train');
  const syn = /^synthetic:(shapes|seg-shapes)(?::(\d+))?$/.exec(spec);
  if (syn) {
    const n = syn[2] ? Number(syn[2]) : undefined;
    // Disjoint draws per split: a different seed for evaluation.
    const seed = evalSplit ? 1 : 0;
    return syn[1] === 'shapes' ? new SyntheticShapes(n ?? (evalSplit ? 128 : 512), 32, seed) : new SyntheticShapesSegmentation(n ?? (evalSplit ? 64 : 256), 64, seed);
  }
  if (spec.startsWith('synthetic:')) throw new Error(`unknown synthetic dataset '${spec}' (synthetic:shapes[:N], synthetic:seg-shapes[:N])`);
  const forced = /^(folder|segfolder):(.*)$/.exec(spec);
  const path = forced ? forced[2]! : spec;
  if (!isDir(path)) throw new Error(`${path}: no such dataset folder (or use fashion-mnist, synthetic:shapes, synthetic:seg-shapes)`);
  const splitDir = (root: string) => {
    const names = split === 'train' ? ['train'] : [split, split === 'val' ? 'test' : 'val', 'validation'];
    for (const n of names) if (isDir(join(root, n))) return join(root, n);
    return root;
  };
  const root = splitDir(path);
  const seg = forced ? forced[1] === 'segfolder' : isDir(join(root, 'images')) && isDir(join(root, 'masks'));
  return seg ? new SegmentationFolder(root) : new ImageFolder(root);
}
