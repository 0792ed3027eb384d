/**
 * vizoo in the browser (`import ... from 'vizoo/browser'`): the same models, blocks, kernels, weight
 * parsing and pipelines as the Node entry, with the browser's I/O around them: backends imported by
 * literal specifiers, images from <img>/canvas/ImageBitmap/ImageData/Blob/URL, weights from URLs or bytes.
 * Nothing in this entry's import graph is a Node module (test/browser/graph.test.ts checks it).
 */
export { tf } from '../tf.js';
export * from './backend.js';
export * from './image.js';
export * from './pipelines.js';
export * from './weights.js';
export * from '../models/index.js';
export * from '../nn/index.js';
export * from '../hub/host_tensor.js';
export { KEY_MAPS, type KeyMap, type AdaptReport, mapStateDict, getKeyMap } from '../hub/keymaps.js';
export { classifyWith, topk, type Prediction, type ClassifyResult, type ClassifyOptions } from '../pipelines/classify.js';
export { type InferenceModel, runForward } from '../pipelines/model.js';
export { segmentRGB, workingSize, classShares, colorize, overlay, NotSegmentationModelError, type SegmentationMap, type ClassShare } from '../pipelines/segment.js';
export {
  embedWith,
  codeFromHash,
  hammingDistance,
  hammingRank,
  meanAveragePrecision,
  rankDatabase,
  type CodeEntry,
  type EmbedResult,
  type EmbedOptions,
  type LabelledImage,
} from '../pipelines/retrieval.js';
export { resampleImage, evalPreprocess } from '../data/resample.js';
export { type EvalTransform, evalTransformFor } from '../data/transforms.js';
export { resolveLabels } from '../data/labels.js';
export * from '../data/palette.js';
export { neighborhoodAttention, setNeighborhoodAttentionImpl, type NeighborhoodAttentionOptions } from '../kernels/neighborhood_attention.js';
