/**
 * vizoo's public API.
 *
 *   import { useBackend, loadModel, classifyImages } from 'vizoo';
 *   await useBackend('auto');
 *   const model = await loadModel('van_b0', { weights: 'van_b0.safetensors' });
 *   const [r] = await classifyImages(model, ['cat.jpg']);
 */
import { createModel, type ModelOptions } from './models/index.js';
import type { Backbone } from './models/backbone.js';
import { loadWeights } from './hub/weights.js';
import { shippedWeightsPath } from './hub/shipped.js';

export { tf } from './tf.js';
export * from './backend/index.js';
export * from './models/index.js';
export * from './nn/index.js';
export * from './hub/host_tensor.js';
export * from './hub/safetensors.js';
export * from './hub/weights.js';
export { shippedWeightsPath } from './hub/shipped.js';
export * from './hub/pytorch.js';
export { writeTorchCheckpoint, serializeTorchCheckpoint } from './hub/pytorch_writer.js';
export { UnsafePickleError, PickleFormatError } from './hub/pickle.js';
export { KEY_MAPS, type KeyMap, type AdaptReport, mapStateDict, getKeyMap } from './hub/keymaps.js';
export { readOnnxInitializers, readOnnxModel, onnxMetadata } from './hub/onnx_weights.js';
export { cacheDir, sha256File } from './hub/cache.js';
export * from './hub/download.js';
export * from './hub/sources.js';
export { exportOnnx, exportOnnxFile, type ExportOptions, type ExportResult } from './onnx/export.js';
export { writeTritonRepository, type TritonOptions } from './onnx/triton.js';
export { UnsupportedKernelError } from './onnx/trace.js';
export { KERNEL_MAPPINGS, MAPPED_KERNELS } from './onnx/ops.js';
export {
  OrtModel, ortModelFor, ortCachePath, runSession, createOrtSession, loadOrt, IMAGENET_DEFAULT, ORT_DEVICES, type OrtDevice, type OrtRuntimeOptions,
} from './onnx/runtime.js';
export { type InferenceModel, runForward } from './pipelines/model.js';
export * from './data/image.js';
export { resolveLabels, packageRoot as packageRootPath } from './data/labels.js';
export * from './pipelines/classify.js';
export * from './pipelines/retrieval.js';
export * from './train/hashing_losses.js';
export { EETDistillation, eetClassCodes, type EETDistillationOptions } from './train/eet_distillation.js';
export { type HashingModel, isHashingModel } from './models/eet.js';
export { neighborhoodAttention, setNeighborhoodAttentionImpl, type NeighborhoodAttentionOptions } from './kernels/neighborhood_attention.js';
export { ProgressBar, formatSeconds } from './util/progress.js';
export { atomicWriteFile } from './util/fs.js';
export * from './data/dataset.js';
export * from './data/transforms.js';
export { openDataset, type Split } from './data/spec.js';
export { DataLoader, type Batch } from './data/loader.js';
export { FashionMNIST, FASHION_MNIST_CLASSES } from './data/fashion_mnist.js';
export { ImageFolder, SegmentationFolder } from './data/image_folder.js';
export { SyntheticShapes, SyntheticShapesSegmentation } from './data/synthetic.js';
export { fit, type FitOptions, type FitResult, type EpochInfo, type StepInfo } from './train/trainer.js';
export { evaluate, type EvalMetrics } from './train/evaluate.js';
export { loadForFinetune, adaptInputConv } from './train/finetune.js';
export * from './train/losses.js';
export * from './train/optim.js';
export { learningRate, type ScheduleConfig } from './train/schedule.js';
export { buildParamGroups, freezeParameters, layerIds } from './train/param_groups.js';
export { ModelEma } from './train/ema.js';
export * from './pipelines/segment.js';
export * from './data/palette.js';
export * from './train/seg_losses.js';
export { runParity, runParityCase, formatResult, type ParityResult } from './parity/runner.js';

export interface LoadModelOptions extends ModelOptions {
  /** A weights file; `'shipped'` (default) uses weights/<variant>.safetensors when the package has it, `null` none. */
  weights?: string | null;
  strict?: boolean;
  /** PyTorch checkpoints: the entry holding the state dict. */
  checkpointKey?: string;
  /** Foreign key naming: 'auto' (default), 'none', or a key map name. */
  keyMap?: string;
}

/** A model ready for inference: weights loaded (or seeded init when there are none), eval mode. */
export function loadModel(name: string, opts: LoadModelOptions = {}): Backbone & { weightsFile: string | null } {
  const weights = opts.weights === undefined || opts.weights === 'shipped' ? shippedWeightsPath(name) : opts.weights;
  const model = createModel(name, { ...opts, init: false }) as Backbone & { weightsFile: string | null };
  if (weights) loadWeights(model, weights, { strict: opts.strict ?? true, checkpointKey: opts.checkpointKey, keyMap: opts.keyMap });
  model.initialize(opts.seed ?? 0);
  model.weightsFile = weights;
  return model.eval();
}
