/**
 * Model cards made from the live registry: `vizoo info` with options, and the catalog the build writes
 * (scripts/build.mjs) so that `vizoo list` and `info` start without tfjs. A test checks the written
 * catalog against these functions.
 */
import { type ModelOptions, createModel, getModelEntry, listModels } from './index.js';
import { noWeightsReason, sourceLocation, weightSources } from '../hub/sources.js';
import { TOKEN_MIXERS } from '../blocks/token_mixers.js';
import type { ModelCard, ModelCatalog } from './card.js';

export function modelCard(name: string, opts: Pick<ModelOptions, 'numClasses' | 'imgSize'> = {}): ModelCard {
  const entry = getModelEntry(name);
  const model = createModel(name, { init: false, ...opts });
  try {
    const source = weightSources(name).default;
    return {
      info: {
        name,
        architecture: entry.architecture,
        params: model.numParams(),
        num_classes: model.numClasses,
        config: model.pretrainedCfg,
        features: model.featureInfo,
        other_input_sizes: model.inputSizeSupport,
      },
      weights: source ? `${sourceLocation(source)} (vizoo pull ${name})` : (noWeightsReason(name) ?? 'no known source'),
    };
  } finally {
    model.dispose();
  }
}

/** The official state dict's keys, PyTorch-layout shapes and dtypes (`vizoo info --state-dict`). */
export function modelStateDictInfo(name: string, opts: Pick<ModelOptions, 'numClasses' | 'imgSize'> = {}): { key: string; shape: number[]; dtype: string }[] {
  const model = createModel(name, { init: false, ...opts });
  try {
    return model.stateDictInfo();
  } finally {
    model.dispose();
  }
}

export function modelCatalog(): ModelCatalog {
  return {
    models: Object.fromEntries(listModels().map((n) => [n, modelCard(n)])),
    mixers: TOKEN_MIXERS.map(({ name, complexity, reach, description, paper }) => ({ name, complexity, reach, description, paper })),
  };
}
