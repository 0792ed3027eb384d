/**
 * Synthetic shapes: procedurally drawn images, deterministic per (seed, index), for tests and demos.
 * Classification: one filled shape (circle, square, triangle, cross) of a random color on a noisy
 * background; the class is the geometry. Segmentation: several shapes, each class with its own hue (red,
 * green, blue, yellow, brightness jittered) so a small network can learn it in a few hundred steps; the mask
 * holds each pixel's shape class (0 = background).
 */
import { Rng } from '../nn/rng.js';
import type { ClassificationDataset, ClassificationSample, SegmentationDataset, SegmentationSample } from './dataset.js';

export const SHAPES = ['circle', 'square', 'triangle', 'cross'] as const;

function inside(shape: number, x: number, y: number, cx: number, cy: number, r: number): boolean {
  const dx = x - cx;
  const dy = y - cy;
  switch (shape) {
    case 0: return dx * dx + dy * dy <= r * r;
    case 1: return Math.abs(dx) <= r * 0.85 && Math.abs(dy) <= r * 0.85;
    case 2: return dy <= r * 0.8 && dy >= -r && Math.abs(dx) <= ((dy + r) / (1.8 * r)) * r;
    default: return (Math.abs(dx) <= r * 0.3 && Math.abs(dy) <= r) || (Math.abs(dy) <= r * 0.3 && Math.abs(dx) <= r);
  }
}

const HUES = [[1, 0.25, 0.2], [0.25, 1, 0.2], [0.25, 0.3, 1], [1, 0.9, 0.2]];

function draw(rng: Rng, size: number, shapes: { cls: number; cx: number; cy: number; r: number }[], mask?: Uint8Array): Uint8Array {
  const img = new Uint8Array(size * size * 3);
  const bg = [rng.int(90), rng.int(90), rng.int(90)];
  for (let i = 0; i < size * size; i++) for (let c = 0; c < 3; c++) img[i * 3 + c] = bg[c]! + rng.int(40);
  for (const s of shapes) {
    const bright = 150 + rng.int(106);
    const col = mask ? HUES[s.cls]!.map((h) => Math.round(h * bright)) : [120 + rng.int(136), 120 + rng.int(136), 120 + rng.int(136)];
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) {
        if (!inside(s.cls, x + 0.5, y + 0.5, s.cx, s.cy, s.r)) continue;
        const p = y * size + x;
        for (let c = 0; c < 3; c++) img[p * 3 + c] = col[c]!;
        if (mask) mask[p] = s.cls + 1;
      }
  }
  return img;
}

export class SyntheticShapes implements ClassificationDataset {
  readonly task = 'classification' as const;
  readonly classes = [...SHAPES];
  readonly name: string;

  constructor(
    readonly length = 512,
    readonly size = 32,
    readonly seed = 0,
  ) {
    this.name = `synthetic:shapes/${seed}`;
  }

  source(i: number): string {
    return `${this.name}#${i}`;
  }

  label(i: number): number {
    return i % SHAPES.length;
  }

  async load(i: number): Promise<ClassificationSample> {
    const rng = Rng.derive(this.seed, `shape:${i}`);
    const s = this.size;
    const r = s * (0.22 + 0.15 * rng.uniform());
    const shape = { cls: this.label(i), cx: r + rng.uniform() * (s - 2 * r), cy: r + rng.uniform() * (s - 2 * r), r };
    return { image: { data: draw(rng, s, [shape]), width: s, height: s, channels: 3 }, label: shape.cls };
  }
}

export class SyntheticShapesSegmentation implements SegmentationDataset {
  readonly task = 'segmentation' as const;
  readonly classes = ['background', ...SHAPES];
  readonly ignoreIndex = 255;
  readonly name: string;

  constructor(
    readonly length = 256,
    readonly size = 64,
    readonly seed = 0,
  ) {
    this.name = `synthetic:seg-shapes/${seed}`;
  }

  source(i: number): string {
    return `${this.name}#${i}`;
  }

  async load(i: number): Promise<SegmentationSample> {
    const rng = Rng.derive(this.seed, `seg:${i}`);
    const s = this.size;
    const n = 1 + rng.int(3);
    const shapes = Array.from({ length: n }, () => {
      const r = s * (0.12 + 0.12 * rng.uniform());
      return { cls: rng.int(SHAPES.length), cx: r + rng.uniform() * (s - 2 * r), cy: r + rng.uniform() * (s - 2 * r), r };
    });
    const mask = new Uint8Array(s * s);
    return { image: { data: draw(rng, s, shapes, mask), width: s, height: s, channels: 3 }, mask };
  }
}
