/**
 * What `vizoo info` says about a model, as data (a card) and as text. Pure and free of tfjs, so the CLI can
 * print a card from the build-time catalog (dist/src/models/catalog.json, written by ./describe.ts) without
 * loading tfjs or the models; cards of options the catalog does not hold are made on the spot.
 */
import type { FeatureInfo, InputSizeSupport } from './backbone.js';
import type { PretrainedConfig } from './registry.js';

export interface ModelCard {
  /** The fields `vizoo info --json` prints. */
  info: {
    name: string;
    architecture: string;
    params: number;
    num_classes: number;
    config: PretrainedConfig;
    features: FeatureInfo[];
    other_input_sizes: InputSizeSupport;
  };
  /** Where the weights come from, in words. */
  weights: string;
}

/** The `vizoo list --mixers` rows. */
export interface MixerRow {
  name: string;
  complexity: string;
  reach: string;
  description: string;
  paper: string;
}

export interface ModelCatalog {
  models: Record<string, ModelCard>;
  mixers: MixerRow[];
}

const OTHER_SIZES = {
  any: 'any size',
  resample: 'resampled on load',
  fixed: 'fixed (weights of another size are refused)',
} as const;

/** The text of `vizoo info` (without the state-dict lines). */
export function formatModelCard({ info, weights }: ModelCard): string[] {
  const c = info.config;
  const lines = [
    `${info.name} (${info.architecture})`,
    `  parameters    ${info.params.toLocaleString('en-US')}`,
    `  classes       ${info.num_classes}${typeof c.labels === 'string' ? ` (${c.labels})` : ''}`,
    `  input         ${c.inputSize.join('x')}, crop_pct ${c.cropPct}, ${c.interpolation}`,
    `  mean / std    ${c.mean.join(', ')} / ${c.std.join(', ')}`,
    `  stages        ${info.features.map((f) => `${f.channels}@1/${f.reduction}`).join(', ')}`,
    `  other sizes   ${OTHER_SIZES[info.other_input_sizes.kind]}: ${info.other_input_sizes.note}`,
    `  weights       ${weights}`,
  ];
  if (c.notes) lines.push(`  notes         ${c.notes}`);
  return lines;
}
