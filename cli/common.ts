/** Options and error handling shared by the commands. */
import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { type Backbone, type BackendInfo, type InferenceModel, OrtModel, ProgressBar, loadModel, ortModelFor, packageRootPath, resolveWeights, useBackend, weightsModelInfo } from '../src/index.js';

export const VERSION = (JSON.parse(readFileSync(`${packageRootPath()}/package.json`, 'utf8')) as { version: string }).version;

/** The model with shipped weights: what `classify` uses when nothing names one. */
export const DEFAULT_MODEL = 'van_fmnist';

export const backendOption = () =>
  new Option('--backend <name>', 'compute backend: auto, node-gpu, node, webgpu, wasm, cpu').default(process.env.VIZOO_BACKEND ?? 'auto');

export const seedOption = () => new Option('--seed <n>', 'seed of the deterministic initialization').default(0).argParser(parseIntArg('--seed'));

export function parseIntArg(name: string, min = Number.MIN_SAFE_INTEGER) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer${min > Number.MIN_SAFE_INTEGER ? ` >= ${min}` : ''}, got '${v}'`);
    return n;
  };
}

/** Runs a command body; any error becomes one line on stderr and exit code 2. Dawn keeps the loop alive, so exit explicitly. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<number | void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    let code = 0;
    try {
      code = (await fn(...args)) ?? 0;
    } catch (e) {
      process.stderr.write(`vizoo: error: ${(e as Error).message}\n`);
      code = 2;
    }
    await new Promise<void>((r) => process.stdout.write('', () => r()));
    process.exit(code);
  };
}

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
}

export const checkpointKeyOption = () =>
  new Option('--checkpoint-key <key>', 'PyTorch checkpoints: the entry holding the state dict (default: state_dict, model, module, model_ema, ... whichever is present)');

export const keyMapOption = () => new Option('--key-map <name>', 'foreign key naming: auto (default), none, hf-van, hf-nat, vig-legacy').default('auto');

/** Replaces an `hf:` / `https:` weights spec by the downloaded file (cached). */
export async function resolveWeightsOption<O extends { weights?: string }>(o: O): Promise<O> {
  if (o.weights) o.weights = await resolveWeights(o.weights);
  return o;
}

/** `--img-size`: "384" or "HEIGHTxWIDTH" -> [h, w]. */
export function parseImgSize(v: string): [number, number] {
  const m = /^(\d+)(?:x(\d+))?$/.exec(v.trim());
  if (!m || Number(m[1]) < 1 || Number(m[2] ?? m[1]) < 1) throw new Error(`--img-size must be SIZE or HEIGHTxWIDTH (e.g. 384 or 448x320), got '${v}'`);
  return [Number(m[1]), Number(m[2] ?? m[1])];
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

/** Builds the model and loads weights; warns on stderr when it runs on random init. */
export function buildModel(o: ModelCliOptions, defaultModel?: string): Backbone {
  const name = resolveModelName(o, defaultModel);
  const numClasses = o.numClasses ?? (o.weights ? numClassesOf(o.weights) : undefined);
  // A vizoo checkpoint records the input size it was trained at: models tied to it are built for it.
  const imgSize = o.imgSize ?? (o.weights ? inputSizeOf(o.weights) : undefined);
  const model = loadModel(name, { weights: o.weights ?? 'shipped', seed: o.seed, numClasses, imgSize, checkpointKey: o.checkpointKey, keyMap: o.keyMap });
  if (!model.weightsFile) process.stderr.write(`vizoo: warning: no weights for ${name}: using random initialization (seed ${o.seed}); pass --weights\n`);
  return model;
}

export const runtimeOption = () => new Option('--runtime <name>', 'tfjs (default) or ort: export once to ONNX (cached in $VIZOO_CACHE/onnx) and run in onnxruntime-node').choices(['tfjs', 'ort']).default('tfjs');

/**
 * The model to run: `--onnx` opens an ONNX file in onnxruntime; `--runtime ort` exports the vizoo model
 * (cached) and runs that; otherwise the tfjs model itself.
 */
export async function buildRunner(o: ModelCliOptions & { onnx?: string; runtime?: string }, defaultModel?: string, inputSize?: [number, number]): Promise<InferenceModel & { dispose?(): unknown }> {
  if (o.onnx) return OrtModel.open(o.onnx, { model: o.model, numClasses: o.numClasses });
  const model = buildModel(o, defaultModel);
  if (o.runtime !== 'ort') return model;
  const weightsFile = (model as { weightsFile?: string | null }).weightsFile ?? null;
  return ortModelFor(model, {
    weightsFile,
    seed: o.seed,
    inputSize,
    onExport: (p) => process.stderr.write(`vizoo: exported ${model.variant} to ${p} (cached for --runtime ort)\n`),
  });
}

function numClassesOf(weights: string): number | undefined {
  const n = weightsModelInfo(weights).config?.numClasses;
  return typeof n === 'number' ? n : undefined;
}

function inputSizeOf(weights: string): [number, number] | undefined {
  const s = weightsModelInfo(weights).config?.inputSize;
  return Array.isArray(s) && s.length === 3 ? [s[1] as number, s[2] as number] : undefined;
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
