/**
 * The model registry: variant names -> builders and pretrained configs (timm's register_model +
 * pretrained_cfg). Model files call `registerModel` at their bottom; `createModel` builds by name.
 */
import { type Backbone, FeatureModel } from './backbone.js';
import type { Pair } from '../nn/functional.js';
import { matchNames, naturalCompare } from './names.js';

export type Interpolation = 'bicubic' | 'bilinear' | 'nearest';

/** Everything needed to feed and read a variant: preprocessing, labels, and where weights come from. */
export interface PretrainedConfig {
  /** (C, H, W) as timm. */
  inputSize: [number, number, number];
  /** Resize the shorter side to floor(size / cropPct), then center-crop `size`. */
  cropPct: number;
  interpolation: Interpolation;
  /** Per input channel. */
  mean: number[];
  std: number[];
  numClasses: number;
  /** Label set name ('imagenet-1k', 'cityscapes', ...) or explicit names. */
  labels?: string | string[];
  /** Known weights: URL and sha256 of the file. */
  url?: string;
  sha256?: string;
  /** Official weights without a direct file URL (a Google Drive page, a repo listing): where they are. */
  weightsPage?: string;
  /** State dict key prefixes of the first conv and the classifier (for in-chans adaption and head reset). */
  firstConv?: string;
  classifier?: string;
  /** What the model's forward returns: class logits (default) or a per-pixel class logit map. */
  task?: 'classification' | 'segmentation';
  /**
   * Segmentation only: bilinear upsampling of the logit map to the image size with align_corners
   * (the official evaluation's choice).
   */
  alignCorners?: boolean;
  /** Segmentation only: the input's height and width must be multiples of this (the image is padded). */
  inputMultiple?: number;
  /** Name of the model's own training loss (src/train/seg_losses.ts TRAIN_LOSSES); default: cross entropy. */
  trainLoss?: string;
  /** Free-form provenance notes (paper, repo@commit, where preprocessing comes from). */
  notes?: string;
  /** ViTs with a choice of token mixer: the one the weights belong to (createModel's `mixer`). */
  mixer?: string;
  /** Weights trained by vizoo: the dataset they were trained on and their final evaluation. */
  dataset?: string;
  metrics?: Record<string, number>;
}

export const IMAGENET_DEFAULT_MEAN = [0.485, 0.456, 0.406];
export const IMAGENET_DEFAULT_STD = [0.229, 0.224, 0.225];

/**
 * An ImageNet-1k classifier config: 224x224 RGB, ImageNet mean/std, 1000 classes with their labels, head
 * `head`; each family gives its eval crop, interpolation and provenance and may override the rest.
 */
export function imagenetConfig(o: Pick<PretrainedConfig, 'cropPct' | 'interpolation' | 'notes'> & Partial<PretrainedConfig>): PretrainedConfig {
  return { inputSize: [3, 224, 224], mean: IMAGENET_DEFAULT_MEAN, std: IMAGENET_DEFAULT_STD, numClasses: 1000, labels: 'imagenet-1k', classifier: 'head', ...o };
}

export interface ModelOptions {
  numClasses?: number;
  inChans?: number;
  dropRate?: number;
  dropPathRate?: number;
  /** Seed of the deterministic initialization. */
  seed?: number;
  /** false: leave parameters unmaterialized (for inspection or before loading weights). */
  init?: boolean;
  /** Return a features-only model (timm's features_only) with the maps of `outIndices` (default: every stage). */
  features?: boolean;
  outIndices?: number[];
  /**
   * Blocks per stage replacing the variant's (timm's `depths` kwarg): the same widths, heads, kernels and flags
   * with other block counts, e.g. a small config for tests. Isotropic models have one stage.
   */
  depths?: number[];
  /**
   * Input size (timm's img_size kwarg; a number is square): families whose official constructor takes
   * img_size are built for it (token grids, position embeddings, per-token operators); every model's
   * pretrained config takes it as its input size.
   */
  imgSize?: number | Pair;
  [key: string]: unknown;
}

export interface ModelEntry {
  name: string;
  /** Architecture family (VAN, BEVANet, ...). */
  architecture: string;
  build: (opts: ModelOptions) => Backbone;
  pretrainedCfg: PretrainedConfig;
  description?: string;
  /** The variant's blocks per stage, when its builder takes a `depths` override. */
  depths?: number[];
}

const registry = new Map<string, ModelEntry>();

export function registerModel(entry: ModelEntry): void {
  if (registry.has(entry.name)) throw new Error(`model '${entry.name}' is registered twice`);
  registry.set(entry.name, entry);
}

/** Registered names matching a wildcard pattern (`*`, `?`; several patterns separated by commas). */
export function listModels(pattern = '*'): string[] {
  return matchNames(registry.keys(), pattern);
}

export { naturalCompare };

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length]!;
}

export class UnknownModelError extends Error {
  constructor(
    readonly modelName: string,
    readonly suggestions: string[],
  ) {
    super(`unknown model '${modelName}'${suggestions.length ? `; did you mean ${suggestions.map((s) => `'${s}'`).join(', ')}?` : ''} (vizoo list shows all)`);
    this.name = 'UnknownModelError';
  }
}

export function getModelEntry(name: string): ModelEntry {
  const e = registry.get(name);
  if (e) return e;
  const lower = name.toLowerCase();
  const scored = [...registry.keys()]
    .map((n) => ({ n, d: editDistance(lower, n.toLowerCase()) - (n.includes(lower) || lower.includes(n) ? 3 : 0) }))
    .sort((a, b) => a.d - b.d || naturalCompare(a.n, b.n));
  const limit = Math.max(2, Math.ceil(name.length / 3));
  throw new UnknownModelError(name, scored.filter((s) => s.d <= limit).slice(0, 3).map((s) => s.n));
}

/** The `imgSize` option as [H, W], checked; `dflt` (the variant's size) when absent. */
export function imageSize(o: ModelOptions, dflt: number | Pair = 224): Pair {
  const v = o.imgSize ?? dflt;
  const hw: unknown[] = typeof v === 'number' ? [v, v] : Array.isArray(v) ? v : [];
  if (hw.length !== 2 || !hw.every((n) => Number.isInteger(n) && (n as number) > 0)) throw new Error(`imgSize must be a positive integer or [height, width], got ${JSON.stringify(v)}`);
  return hw as Pair;
}

/** Builds a registered model: deterministic init from `seed` unless `init: false`. */
export function createModel(name: string, opts: ModelOptions & { features: true }): FeatureModel;
export function createModel(name: string, opts?: ModelOptions): Backbone;
export function createModel(name: string, opts: ModelOptions = {}): Backbone | FeatureModel {
  const entry = getModelEntry(name);
  if (opts.depths) checkDepths(name, entry, opts.depths);
  const model = entry.build(opts);
  const cfg = entry.pretrainedCfg;
  model.pretrainedCfg = {
    ...cfg,
    numClasses: model.numClasses,
    ...(opts.imgSize !== undefined ? { inputSize: [cfg.inputSize[0], ...imageSize(opts)] } : {}),
    ...(opts.mixer !== undefined && cfg.mixer !== undefined ? { mixer: String(opts.mixer) } : {}),
  };
  model.variant = name;
  const out = opts.features ? new FeatureModel(model, opts.outIndices) : model;
  if (opts.init !== false) out.initialize(opts.seed ?? 0);
  return out;
}

function checkDepths(name: string, entry: ModelEntry, depths: number[]): void {
  if (!entry.depths) throw new Error(`${name} does not take a depths option`);
  if (depths.length !== entry.depths.length || depths.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new Error(`${name}: depths must be ${entry.depths.length} positive integers (the variant has [${entry.depths}]), got [${depths}]`);
  }
}

/** The blocks per stage a builder uses: `opts.depths` when given (checked by createModel), else the variant's. */
export function stageDepths(o: ModelOptions, variant: number[]): number[] {
  return o.depths ?? variant;
}

/**
 * Per-block settings (DiNAT dilations, UniRepLKNet kernel sizes) for other block counts: each stage keeps its
 * first entries; more blocks than the variant lists is an error naming the setting.
 */
export function perBlock<T>(lists: T[][], depths: number[], what: string): T[][] {
  return lists.map((l, i) => {
    if (depths[i]! > l.length) throw new Error(`${what}: stage ${i} lists ${l.length} blocks, ${depths[i]} asked for`);
    return l.slice(0, depths[i]);
  });
}
