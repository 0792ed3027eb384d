/**
 * Model cards made from the live registry: `vizoo info` with options, and the catalog the build writes
 * (scripts/build.mjs) so that `vizoo list` and `info` start without tfjs. A test checks the written
 * catalog against these functions.
 */
import { type ModelOptions, createModel, getModelEntry, listModels } from './index.js';
import { noWeightsReason, sourceLocation, weightSources } from '../hub/sources.js';
import { TOKEN_MIXERS } from '../blocks/token_mixers.js';
import type { ModelCard, ModelCatalog } from './card.js';

export type StateDictEntry = { key: string; shape: number[]; dtype: string };

type CardOptions = Pick<ModelOptions, 'numClasses' | 'imgSize'>;

/**
 * The model's card and, when asked, its official state dict's keys, PyTorch-layout shapes and dtypes
 * (`vizoo info --state-dict`), from one uninitialized build of the model.
 */
export function describeModel(name: string, opts: CardOptions = {}, withStateDict = false): { card: ModelCard; stateDict?: StateDictEntry[] } {
  const entry = getModelEntry(name);
  const model = createModel(name, { init: false, ...opts });
  try {
    const source = weightSources(name).default;
    const card: ModelCard = {
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
    return withStateDict ? { card, stateDict: model.stateDictInfo() } : { card };
  } finally {
    model.dispose();
  }
}

export function modelCard(name: string, opts: CardOptions = {}): ModelCard {
  return describeModel(name, opts).card;
}

export function modelCatalog(): ModelCatalog {
  return {
    models: Object.fromEntries(listModels().map((n) => [n, modelCard(n)])),
    mixers: TOKEN_MIXERS.map(({ name, complexity, reach, description, paper }) => ({ name, complexity, reach, description, paper })),
  };
}
