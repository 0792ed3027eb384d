/**
 * Folder datasets. ImageFolder: one sub-folder per class (sorted names = class indices, as torchvision).
 * SegmentationFolder: images/ and masks/ with the same base names; masks are PNGs of class indices.
 */
import { readdirSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { ImageError, loadImageRGB, loadMask } from './image.js';
import { type ClassificationDataset, type ClassificationSample, CorruptSampleError, type SegmentationDataset, type SegmentationSample } from './dataset.js';

export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.bmp', '.gif', '.tif', '.tiff', '.avif'];

const isImage = (f: string) => IMAGE_EXTENSIONS.includes(extname(f).toLowerCase());

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch (e) {
    throw new Error(`${dir}: cannot read folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

async function decode(path: string): Promise<ClassificationSample['image']> {
  try {
    const { data, width, height } = await loadImageRGB(path);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width, height, channels: 3 };
  } catch (e) {
    if (e instanceof ImageError) throw new CorruptSampleError(path, e.problem);
    throw e;
  }
}

export class ImageFolder implements ClassificationDataset {
  readonly task = 'classification' as const;
  readonly name: string;
  readonly classes: string[];
  private readonly files: string[] = [];
  private readonly labels: number[] = [];

  constructor(readonly root: string) {
    this.name = root;
    this.classes = listDir(root).filter((d) => statSync(join(root, d)).isDirectory());
    if (!this.classes.length) throw new Error(`${root}: no class sub-folders (expected <root>/<class>/<image files>)`);
    this.classes.forEach((c, label) => {
      for (const f of listDir(join(root, c))) {
        if (!isImage(f)) continue;
        this.files.push(join(root, c, f));
        this.labels.push(label);
      }
    });
    if (!this.files.length) throw new Error(`${root}: no image files (${IMAGE_EXTENSIONS.join(' ')}) in its class folders`);
  }

  get length(): number {
    return this.files.length;
  }

  source(i: number): string {
    return this.files[i]!;
  }

  label(i: number): number {
    return this.labels[i]!;
  }

  async load(i: number): Promise<ClassificationSample> {
    return { image: await decode(this.files[i]!), label: this.labels[i]! };
  }
}

export class SegmentationFolder implements SegmentationDataset {
  readonly task = 'segmentation' as const;
  readonly name: string;
  readonly classes: string[];
  private readonly pairs: [string, string][] = [];

  constructor(
    readonly root: string,
    classes?: string[],
    readonly ignoreIndex = 255,
  ) {
    this.name = root;
    const masks = new Map(listDir(join(root, 'masks')).map((f) => [basename(f, extname(f)), join(root, 'masks', f)]));
    for (const f of listDir(join(root, 'images'))) {
      if (!isImage(f)) continue;
      const m = masks.get(basename(f, extname(f)));
      if (m) this.pairs.push([join(root, 'images', f), m]);
    }
    if (!this.pairs.length) throw new Error(`${root}: no image/mask pairs (expected images/<name>.<ext> and masks/<name>.png)`);
    this.classes = classes ?? [];
  }

  get length(): number {
    return this.pairs.length;
  }

  source(i: number): string {
    return this.pairs[i]![0];
  }

  async load(i: number): Promise<SegmentationSample> {
    const [imgPath, maskPath] = this.pairs[i]!;
    const image = await decode(imgPath);
    let m: { data: Buffer; width: number; height: number };
    try {
      m = await loadMask(maskPath);
    } catch (e) {
      if (e instanceof ImageError) throw new CorruptSampleError(maskPath, `cannot use mask (${e.problem})`);
      throw e;
    }
    if (m.width !== image.width || m.height !== image.height) throw new CorruptSampleError(maskPath, `cannot use mask (mask is ${m.width}x${m.height}, image ${image.width}x${image.height})`);
    return { image, mask: new Uint8Array(m.data.buffer, m.data.byteOffset, m.data.byteLength) };
  }
}
