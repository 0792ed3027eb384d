/**
 * Fashion-MNIST (Xiao, Rasul, Vollgraf 2017) from the idx .gz files of Debian's `dataset-fashion-mnist`
 * package (/usr/share/datasets/fashion-mnist): 60k train / 10k test, 28x28 greyscale, 10 classes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { ClassificationDataset, ClassificationSample } from './dataset.js';
import { FASHION_MNIST_CLASSES } from './fashion_mnist_classes.js';

export { FASHION_MNIST_CLASSES };
export const FASHION_MNIST_DIR = process.env.VIZOO_FASHION_MNIST ?? '/usr/share/datasets/fashion-mnist';

function readIdx(path: string, magic: number): { dims: number[]; data: Uint8Array } {
  let buf: Buffer;
  try {
    buf = gunzipSync(readFileSync(path));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`${path}: ${code === 'ENOENT' ? "missing (install Debian's dataset-fashion-mnist package, or set VIZOO_FASHION_MNIST)" : `cannot read (${(e as Error).message})`}`);
  }
  if (buf.readUInt32BE(0) !== magic) throw new Error(`${path}: not an idx file of the expected type (magic ${buf.readUInt32BE(0).toString(16)})`);
  const nd = magic & 0xff;
  const dims = Array.from({ length: nd }, (_, i) => buf.readUInt32BE(4 + 4 * i));
  const data = new Uint8Array(buf.buffer, buf.byteOffset + 4 + 4 * nd, dims.reduce((a, b) => a * b, 1));
  return { dims, data };
}

export class FashionMNIST implements ClassificationDataset {
  readonly task = 'classification' as const;
  readonly name: string;
  readonly classes = FASHION_MNIST_CLASSES;
  readonly length: number;
  private readonly images: Uint8Array;
  private readonly labels: Uint8Array;

  constructor(
    readonly split: 'train' | 'test',
    dir = FASHION_MNIST_DIR,
  ) {
    const prefix = split === 'train' ? 'train' : 't10k';
    const imgs = readIdx(join(dir, `${prefix}-images-idx3-ubyte.gz`), 0x803);
    const labs = readIdx(join(dir, `${prefix}-labels-idx1-ubyte.gz`), 0x801);
    if (imgs.dims[0] !== labs.dims[0] || imgs.dims[1] !== 28 || imgs.dims[2] !== 28) throw new Error(`${dir}: unexpected Fashion-MNIST shapes`);
    this.images = imgs.data;
    this.labels = labs.data;
    this.length = labs.dims[0]!;
    this.name = `fashion-mnist/${split}`;
  }

  source(i: number): string {
    return `${this.name}#${i}`;
  }

  label(i: number): number {
    return this.labels[i]!;
  }

  async load(i: number): Promise<ClassificationSample> {
    return { image: { data: this.images.subarray(i * 784, (i + 1) * 784), width: 28, height: 28, channels: 1 }, label: this.labels[i]! };
  }
}
