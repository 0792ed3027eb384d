/** Options and error handling shared by the commands. */
import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { type Backbone, type BackendInfo, loadModel, packageRootPath, useBackend, weightsModelInfo } from '../src/index.js';

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
  seed: number;
  numClasses?: number;
}

/** Model options of commands that build one; the model defaults to the one a weights file names, then `defaultModel`. */
export function addModelOptions(cmd: Command, defaultModel?: string): Command {
  return cmd
    .option('-m, --model <name>', `registered model name (vizoo list)${defaultModel ? `; default: the model the weights file names, else ${defaultModel}` : '; default: the model the weights file names'}`)
    .option('-w, --weights <file>', 'weights file (.safetensors); default: shipped weights when the package has them')
    .option('--num-classes <n>', 'number of classes of the head', parseIntArg('--num-classes', 0))
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
  const model = loadModel(name, { weights: o.weights ?? 'shipped', seed: o.seed, numClasses });
  if (!model.weightsFile) process.stderr.write(`vizoo: warning: no weights for ${name}: using random initialization (seed ${o.seed}); pass --weights\n`);
  return model;
}

function numClassesOf(weights: string): number | undefined {
  const n = weightsModelInfo(weights).config?.numClasses;
  return typeof n === 'number' ? n : undefined;
}
