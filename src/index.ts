/**
 * vizoo's public API.
 *
 *   import { useBackend, loadModel, classifyImages } from 'vizoo';
 *   await useBackend('auto');
 *   const model = await loadModel('van_b0', { weights: 'van_b0.safetensors' });
 *   const [r] = await classifyImages(model, ['cat.jpg']);
 */
import { type ModelOptions } from './models/index.js';
import type { Backbone } from './models/backbone.js';
import type { InferenceModel } from './pipelines/model.js';
import { type OrtDevice, type RuntimeChoice, ortModelFor, resolveRuntime } from './onnx/runtime.js';
import { loadWeights, weightsModelInfo } from './hub/weight_files.js';
import { applyRecordedConfig, createForWeights } from './hub/recorded_config.js';
import { shippedWeightsPath } from './hub/shipped.js';

export { tf } from './tf.js';
export * from './backend/index.js';
export * from './models/index.js';
export * from './nn/index.js';
export * from './hub/host_tensor.js';
export * from './hub/safetensors.js';
export * from './hub/weights.js';
export * from './hub/weight_files.js';
export { adaptToInputSize, InputSizeError } from './hub/input_size.js';
export { shippedWeightsPath } from './hub/shipped.js';
export { applyRecordedConfig, recordedConfig } from './hub/recorded_config.js';
export * from './hub/pytorch.js';
export { writeTorchCheckpoint, serializeTorchCheckpoint } from './hub/pytorch_writer.js';
export { UnsafePickleError, PickleFormatError } from './hub/pickle.js';
export { KEY_MAPS, type KeyMap, type AdaptReport, mapStateDict, getKeyMap } from './hub/keymaps.js';
export { parseOnnxWeights, parseOnnxMetadata, ExternalDataError, type ExternalDataOpener } from './hub/onnx_weights.js';
export { ZipFormatError } from './hub/zip.js';
export { FileError, WeightsFormatError } from './util/errors.js';
export { cacheDir, sha256File } from './hub/cache.js';
export * from './hub/download.js';
export * from './hub/sources.js';
export { exportOnnx, exportOnnxFile, type ExportOptions, type ExportOutput, type ExportResult } from './onnx/export.js';
export { writeTritonRepository, type TritonOptions } from './onnx/triton.js';
export { UnsupportedKernelError } from './onnx/trace.js';
export { KERNEL_MAPPINGS, MAPPED_KERNELS } from './onnx/ops.js';
export {
  OrtModel, ortModelFor, ortCachePath, runSession, createOrtSession, loadOrt, resolveRuntime, RUNTIMES, type RuntimeChoice, IMAGENET_DEFAULT, ORT_DEVICES, type OrtDevice, type OrtRuntimeOptions,
} from './onnx/runtime.js';
export { type InferenceModel, runForward } from './pipelines/model.js';
export * from './data/image.js';
export { resolveLabels } from './data/labels.js';
export { packageRoot as packageRootPath } from './util/package_root.js';
export * from './pipelines/classify.js';
export * from './pipelines/files.js';
export * from './pipelines/retrieval.js';
export * from './train/hashing_losses.js';
export { EETDistillation, eetClassCodes, type EETDistillationOptions } from './train/eet_distillation.js';
export { type HashingModel, isHashingModel } from './models/eet.js';
export { TOKEN_MIXERS, getTokenMixer, listTokenMixers, type TokenMixer, type TokenMixerReach } from './blocks/token_mixers.js';
export { NormLinearAttention, NormLocalAttention } from './blocks/transnormer.js';
export { BasedLinearAttention } from './blocks/based.js';
export { TnlAttention } from './blocks/lightning_attention.js';
export { linearAttention, type LinearAttentionOptions } from './kernels/linear_attention.js';
export { neighborhoodAttention, setNeighborhoodAttentionImpl, type NeighborhoodAttentionOptions } from './kernels/neighborhood_attention.js';
export { ProgressBar, formatSeconds } from './util/progress.js';
export { atomicWriteFile } from './util/fs.js';
export * from './data/dataset.js';
export * from './data/transforms.js';
export { openDataset, hasEvalSplit, type Split } from './data/spec.js';
export { DataLoader, type Batch } from './data/loader.js';
export { FashionMNIST, FASHION_MNIST_CLASSES } from './data/fashion_mnist.js';
export { ImageFolder, SegmentationFolder } from './data/image_folder.js';
export { SyntheticShapes, SyntheticShapesSegmentation } from './data/synthetic.js';
export { TrainingRunError } from './train/run_folder.js';
export { fit, type FitOptions, type FitResult, type EpochInfo, type StepInfo } from './train/trainer.js';
export * from './train/memory.js';
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
export { startDemoServer, type DemoServer, type DemoServerOptions } from './serve.js';
export { runSelftest, selftestDir, type SelftestFamily } from './parity/selftest.js';

export interface LoadModelOptions extends ModelOptions {
  /** A weights file; `'shipped'` (default) uses weights/<variant>.safetensors when the package has it, `null` none. */
  weights?: string | null;
  strict?: boolean;
  /** PyTorch checkpoints: the entry holding the state dict. */
  checkpointKey?: string;
  /** Foreign key naming: 'auto' (default), 'none', or a key map name. */
  keyMap?: string;
}

/**
 * A model ready for inference: weights loaded (or seeded init when there are none), eval mode. It is built
 * for the input size the weights file records, or for `imgSize`, to which position embeddings trained at
 * another size are resampled (models that cannot change size refuse).
 *
 * Without `runtime` this is vizoo's own tfjs model (synchronous, trainable). With `runtime` ('auto': onnxruntime
 * when onnxruntime-node is installed, else tfjs; 'ort'; 'tfjs') it resolves to a model for the inference
 * pipelines: in onnxruntime, the model is exported once (cached under $VIZOO_CACHE/onnx) and runs on `device`.
 */
export function loadModel(name: string, opts?: LoadModelOptions & { runtime?: undefined }): LoadedModel;
export function loadModel(name: string, opts: LoadModelOptions & { runtime: RuntimeChoice; device?: OrtDevice }): Promise<InferenceModel & { dispose(): unknown; weightsFile: string | null }>;
export function loadModel(name: string, opts: LoadModelOptions & { runtime?: RuntimeChoice; device?: OrtDevice } = {}): LoadedModel | Promise<InferenceModel & { dispose(): unknown; weightsFile: string | null }> {
  if (opts.runtime === undefined) return loadTfjsModel(name, opts);
  const model = loadTfjsModel(name, opts);
  return resolveRuntime(opts.runtime).then(async (runtime) => {
    if (runtime === 'tfjs') return model;
    try {
      const ort = await ortModelFor(model, { weightsFile: model.weightsFile, seed: opts.seed, device: opts.device });
      return Object.assign(ort, { weightsFile: model.weightsFile });
    } finally {
      model.dispose();
    }
  });
}

type LoadedModel = Backbone & { weightsFile: string | null };

function loadTfjsModel(name: string, opts: LoadModelOptions): LoadedModel {
  const weights = opts.weights === undefined || opts.weights === 'shipped' ? shippedWeightsPath(name) : opts.weights;
  const built = createForWeights(name, opts, weights ? weightsModelInfo(weights).trained : {});
  const model = built.model as Backbone & { weightsFile: string | null };
  const trained = built.trained;
  if (weights) {
    loadWeights(model, weights, { strict: opts.strict ?? true, checkpointKey: opts.checkpointKey, keyMap: opts.keyMap });
    // What the file says its weights were trained for (labels, preprocessing) wins over the registry's defaults.
    applyRecordedConfig(model, trained);
  }
  model.initialize(opts.seed ?? 0);
  model.weightsFile = weights;
  return model.eval();
}
