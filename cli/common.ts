/** Model building, runners and progress shared by the commands (options and error handling: ./options.ts). */
import { existsSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { action, backendOption, parseImgSize, parseIntArg, seedOption } from './options.js';
import { type Backbone, type BackendInfo, isHashingModel, type InferenceModel, OrtModel, ProgressBar, cachedPath, loadModel, ortModelFor, resolveRuntime, resolveWeights, type OrtDevice, useBackend, weightSources, weightsModelInfo } from '../src/index.js';
import type { Tensor, Tensor4D } from '../src/tf.js';

export { action, backendOption, parseImgSize, parseIntArg, seedOption };

/** The model with shipped weights: what `classify` uses when nothing names one. */
export const DEFAULT_MODEL = 'van_fmnist';

export async function selectBackend(name: string, quiet = false): Promise<BackendInfo> {
  const info = await useBackend(name);
  if (!quiet && process.env.VIZOO_VERBOSE) process.stderr.write(`backend: ${info.name}${info.device ? ` (${info.device})` : ''}\n`);
  return info;
}

export interface ModelCliOptions {
  model?: string;
  weights?: string;
  imgSize?: [number, number];
  seed: number;
  numClasses?: number;
  checkpointKey?: string;
  keyMap?: string;
  /** Run the seeded random initialization when the model has no weights (inference commands refuse otherwise). */
  randomInit?: boolean;
}

export const checkpointKeyOption = () =>
  new Option('--checkpoint-key <key>', 'PyTorch checkpoints: the entry holding the state dict (default: state_dict, model, module, model_ema, ... whichever is present)');

export const keyMapOption = () => new Option('--key-map <name>', 'foreign key naming: auto (default), none, hf-van, hf-nat, vig-legacy').default('auto');

/** Replaces an `hf:` / `https:` weights spec by the downloaded file (cached). */
export async function resolveWeightsOption<O extends { weights?: string }>(o: O): Promise<O> {
  if (o.weights) o.weights = await resolveWeights(o.weights);
  return o;
}

/** Model options of commands that build one; the model defaults to the one a weights file names, then `defaultModel`. */
export function addModelOptions(cmd: Command, defaultModel?: string): Command {
  return cmd
    .option('-m, --model <name>', `registered model name (vizoo list)${defaultModel ? `; default: the model the weights file names, else ${defaultModel}` : '; default: the model the weights file names'}`)
    .option('-w, --weights <file>', 'weights: .safetensors, PyTorch .pth/.pt/.bin/.ckpt/.tar, .onnx, hf:org/repo[/file] or https://...; default: shipped weights when the package has them')
    .addOption(checkpointKeyOption())
    .addOption(keyMapOption())
    .option('--num-classes <n>', 'number of classes of the head', parseIntArg('--num-classes', 0))
    .option('--img-size <size>', 'build the model for this input size (SIZE or HxW); position embeddings of weights trained at another size are resampled (vizoo info says which models can)', parseImgSize)
    .addOption(seedOption())
    .option('--random-init', 'run the seeded random initialization when the model has no weights')
    .addOption(backendOption());
}

/** The model to build: --model, else the one recorded in the weights file, else the command's default. */
export function resolveModelName(o: ModelCliOptions, defaultModel?: string): string {
  if (o.model) return o.model;
  const fromWeights = o.weights ? weightsModelInfo(o.weights).model : undefined;
  const name = fromWeights ?? defaultModel;
  if (!name) throw new Error(o.weights ? `${o.weights}: the file does not name its model; pass --model` : 'pass --model (vizoo list shows the models)');
  return name;
}

/** Where to get weights for `name`, in one sentence (official sources first, then vizoo pull). */
export function weightsHelp(name: string): string {
  const sources = Object.entries(weightSources(name));
  const file = sources.find(([, s]) => s.url);
  if (file) return file[0] === 'default' ? `download the official ones with \`vizoo pull ${name}\` (then they are used by default) or pass --weights ${file[1].url}` : `download the official ones with \`vizoo pull ${name}.${file[0]}\` and pass --weights <the printed path> (or --weights ${file[1].url})`;
  const page = sources.find(([, s]) => s.page);
  if (page) return `the official files are listed at ${page[1].page}: download one and pass --weights <file>`;
  return `no official weights are published for ${name}: train or fine-tune one (vizoo train, vizoo finetune) and pass --weights <file>`;
}

/** The file `vizoo pull <name>` left in the cache (its default source), when the package ships none. */
function pulledWeights(name: string): string | undefined {
  const source = weightSources(name).default;
  if (!source?.url || source.kind === 'shipped') return undefined;
  const path = cachedPath(source.url, { fileName: source.file });
  return existsSync(path) ? path : undefined;
}

/**
 * Builds the model and loads weights: --weights, else what `vizoo pull` fetched, else the shipped file.
 * Without weights, an inference command (`needWeights`) stops with how to get them unless --random-init
 * asks for the untrained model; other commands warn.
 */
export function buildModel(o: ModelCliOptions, defaultModel?: string, needWeights = false): Backbone & { weightsFile: string | null } {
  const name = resolveModelName(o, defaultModel);
  const numClasses = o.numClasses ?? (o.weights ? numClassesOf(o.weights) : undefined);
  const model = loadModel(name, { weights: o.weights ?? pulledWeights(name) ?? 'shipped', seed: o.seed, numClasses, imgSize: o.imgSize, checkpointKey: o.checkpointKey, keyMap: o.keyMap });
  if (!model.weightsFile) {
    if (needWeights && !o.randomInit) throw new Error(`${name} has no weights here: ${weightsHelp(name)}; --random-init runs the untrained model`);
    process.stderr.write(`vizoo: warning: no weights for ${name}: using the random initialization (seed ${o.seed}); ${weightsHelp(name)}\n`);
  }
  return model;
}

export const runtimeOption = () =>
  new Option('--runtime <name>', 'auto: onnxruntime when onnxruntime-node is installed (the model is exported once, cached in $VIZOO_CACHE/onnx), else tfjs; tfjs; ort')
    .choices(['auto', 'tfjs', 'ort'])
    .default(process.env.VIZOO_RUNTIME || 'auto');

export const deviceOption = () => new Option('--device <name>', "onnxruntime's execution provider: cpu, or webgpu (its bundled WebGPU provider)").choices(['cpu', 'webgpu']).default('cpu');

/** The runtime a command runs on (auto resolved), with --device checked against it. */
export async function commandRuntime(o: { runtime?: string; device?: string }): Promise<'tfjs' | 'ort'> {
  const runtime = await resolveRuntime(o.runtime ?? 'auto');
  if (runtime === 'tfjs' && o.device && o.device !== 'cpu') throw new Error(`--device ${o.device} runs in onnxruntime: ${o.runtime === 'tfjs' ? 'drop --runtime tfjs' : 'install onnxruntime-node'} (tfjs picks its device with --backend)`);
  return runtime;
}

/**
 * The model to run: `--onnx` opens an ONNX file in onnxruntime; `--runtime ort` exports the vizoo model
 * (cached) and runs that; otherwise the tfjs model itself.
 */
export async function buildRunner(o: ModelCliOptions & { onnx?: string; runtime?: string; device?: string }, defaultModel?: string, inputSize?: [number, number]): Promise<InferenceModel & { dispose?(): unknown }> {
  if (o.onnx) return OrtModel.open(o.onnx, { model: o.model, numClasses: o.numClasses, device: o.device as OrtDevice | undefined });
  const model = buildModel(o, defaultModel, true);
  if ((await commandRuntime(o)) === 'tfjs') return model;
  const weightsFile = (model as { weightsFile?: string | null }).weightsFile ?? null;
  return ortModelFor(model, {
    weightsFile,
    seed: o.seed,
    inputSize,
    device: o.device as OrtDevice | undefined,
    onExport: (p) => process.stderr.write(`vizoo: exported ${model.variant} to ${p} for onnxruntime (cached; --runtime tfjs skips it)\n`),
  });
}

export interface HashRunner {
  /** Undefined on tfjs (the model runs itself). */
  hash?: (x: Tensor4D) => Promise<Tensor>;
  dispose(): Promise<void>;
}

/**
 * The hash head of `model` on the command's runtime: onnxruntime runs the model's hash export (cached as the
 * forward exports are); on tfjs the model runs itself.
 */
export async function hashRunner(model: Backbone, o: ModelCliOptions & { runtime?: string; device?: string }): Promise<HashRunner> {
  // A model without a hash head is refused by the pipeline, with its hint, before anything is exported.
  if ((await commandRuntime(o)) === 'tfjs' || !isHashingModel(model)) return { dispose: async () => {} };
  const ort = await ortModelFor(model, {
    weightsFile: (model as { weightsFile?: string | null }).weightsFile ?? null,
    seed: o.seed,
    device: o.device as OrtDevice | undefined,
    output: 'hash',
    onExport: (p) => process.stderr.write(`vizoo: exported ${model.variant}'s hash head to ${p} for onnxruntime (cached; --runtime tfjs skips it)\n`),
  });
  return { hash: (x) => ort.forwardAsync(x), dispose: () => ort.dispose() };
}

function numClassesOf(weights: string): number | undefined {
  const n = weightsModelInfo(weights).config?.numClasses;
  return typeof n === 'number' ? n : undefined;
}

/**
 * Progress of a command over many images: a bar when there are more than a few, and each image that fails as
 * one `vizoo: error:` line on stderr (the others still run).
 */
export function imageProgress(total: number, label: string): { onImage: (r: object) => void; finish: () => void } {
  const bar = total > 4 ? new ProgressBar({ total, label }) : null;
  return {
    onImage: (r) => {
      bar?.tick();
      if ('error' in r) process.stderr.write(`vizoo: error: ${(r as { error: string }).error}\n`);
    },
    finish: () => bar?.finish(),
  };
}

/** Says on stderr how many of `total` images failed; the exit code (1 when any did). */
export function reportFailures(failed: number, total: number): number {
  if (failed) process.stderr.write(`vizoo: ${failed} of ${total} images failed\n`);
  return failed ? 1 : 0;
}
