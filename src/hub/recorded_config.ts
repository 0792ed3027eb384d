/**
 * The config a vizoo weights file records (`vizoo_config` in safetensors or ONNX metadata): what the
 * weights were trained for. Its classes, labels, preprocessing and provenance win over the registry's
 * defaults for the variant, so a fine-tuned model prints its own labels in every runtime.
 */
import { type ModelOptions, type PretrainedConfig, createModel } from '../models/registry.js';
import { type Backbone, FeatureModel } from '../models/backbone.js';

/** Metadata keys naming the model a weights file belongs to and its config. */
export const MODEL_META = 'vizoo_model';
export const CONFIG_META = 'vizoo_config';

/** Fields of a recorded config that describe the trained weights. */
const TRAINED_FIELDS = ['numClasses', 'labels', 'inputSize', 'cropPct', 'interpolation', 'mean', 'std', 'notes', 'dataset', 'metrics', 'mixer'] as const;

const isNumbers = (v: unknown, n?: number) => Array.isArray(v) && (n === undefined || v.length === n) && v.every((x) => typeof x === 'number' && Number.isFinite(x));

/** Whether `value` has the type the config field needs (recorded configs come from files: untrusted). */
function fieldOk(key: (typeof TRAINED_FIELDS)[number], value: unknown): boolean {
  switch (key) {
    case 'numClasses':
      return Number.isInteger(value) && (value as number) >= 0;
    case 'labels':
      return typeof value === 'string' || (Array.isArray(value) && value.every((x) => typeof x === 'string'));
    case 'inputSize':
      return isNumbers(value, 3) && (value as number[]).every((x) => Number.isInteger(x) && x > 0);
    case 'cropPct':
      return typeof value === 'number' && value > 0 && value <= 1;
    case 'interpolation':
      return value === 'bicubic' || value === 'bilinear' || value === 'nearest';
    case 'mean':
    case 'std':
      return isNumbers(value);
    case 'notes':
    case 'dataset':
    case 'mixer':
      return typeof value === 'string';
    case 'metrics':
      return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((x) => typeof x === 'number');
  }
}

/** The trained-for fields of a recorded config JSON (invalid fields are left out; invalid JSON gives none). */
export function recordedConfig(json: string | undefined): Partial<PretrainedConfig> {
  if (!json) return {};
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return {};
  }
  if (typeof raw !== 'object' || raw === null) return {};
  const out: Record<string, unknown> = {};
  for (const k of TRAINED_FIELDS) {
    const v = (raw as Record<string, unknown>)[k];
    if (v !== undefined && fieldOk(k, v)) out[k] = v;
  }
  return out as Partial<PretrainedConfig>;
}

/**
 * Applies a recorded config to a model whose weights came from that file. Labels that do not match the
 * head's class count, and a channel count other than the model's, are not taken.
 */
export function applyRecordedConfig(model: Backbone | FeatureModel, recorded: Partial<PretrainedConfig>): void {
  const target = model instanceof FeatureModel ? model.backbone : model;
  const cfg: PretrainedConfig = { ...target.pretrainedCfg };
  for (const [k, v] of Object.entries(recorded)) (cfg as unknown as Record<string, unknown>)[k] = v;
  cfg.numClasses = target.numClasses;
  if (Array.isArray(cfg.labels) && cfg.labels.length !== target.numClasses) cfg.labels = target.pretrainedCfg.labels;
  if (cfg.inputSize[0] !== target.pretrainedCfg.inputSize[0]) cfg.inputSize = target.pretrainedCfg.inputSize;
  const channels = cfg.inputSize[0];
  if (cfg.mean.length !== channels || cfg.std.length !== channels) Object.assign(cfg, { mean: target.pretrainedCfg.mean, std: target.pretrainedCfg.std });
  target.pretrainedCfg = cfg;
}

/**
 * Builds `name` for weights that recorded `trained`: with the token mixer they record (ViTs), and at the input
 * size the file records unless `opts.imgSize` asks for another (position embeddings are then resampled on load, or refused). Returns the model
 * (uninitialized) and the recorded fields to apply after loading (`applyRecordedConfig`).
 */
export function createForWeights(name: string, opts: ModelOptions, trained: Partial<PretrainedConfig>): { model: Backbone; trained: Partial<PretrainedConfig> } {
  const rest = { ...trained };
  const recordedSize = rest.inputSize && ([rest.inputSize[1], rest.inputSize[2]] as [number, number]);
  if (opts.imgSize !== undefined) delete rest.inputSize;
  // The class count and (ViTs) the token mixer are part of the architecture: the weights name the ones they were trained with.
  const mixer = opts.mixer ?? rest.mixer;
  const numClasses = opts.numClasses ?? rest.numClasses;
  return { model: createModel(name, { ...opts, imgSize: opts.imgSize ?? recordedSize, numClasses, ...(mixer !== undefined ? { mixer } : {}), init: false }) as Backbone, trained: rest };
}
