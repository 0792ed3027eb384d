/** Options and error handling shared by the commands. */
import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { type Backbone, type BackendInfo, loadModel, packageRootPath, useBackend } from '../src/index.js';

export const VERSION = (JSON.parse(readFileSync(`${packageRootPath()}/package.json`, 'utf8')) as { version: string }).version;

export const backendOption = () =>
  new Option('-b, --backend <name>', 'compute backend: auto, node-gpu, node, webgpu, wasm, cpu').default(process.env.VIZOO_BACKEND ?? 'auto');

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
  model: string;
  weights?: string;
  seed: number;
  numClasses?: number;
}

export function addModelOptions(cmd: Command, defaultModel?: string): Command {
  const model = new Option('-m, --model <name>', 'registered model name (vizoo list)');
  if (defaultModel) model.default(defaultModel);
  else model.makeOptionMandatory();
  return cmd
    .addOption(model)
    .option('-w, --weights <file>', 'weights file (.safetensors); default: shipped weights when the package has them')
    .option('--num-classes <n>', 'number of classes of the head', parseIntArg('--num-classes', 0))
    .addOption(seedOption())
    .addOption(backendOption());
}

/** Builds the model and loads weights; warns on stderr when it runs on random init. */
export function buildModel(o: ModelCliOptions): Backbone {
  const model = loadModel(o.model, { weights: o.weights ?? 'shipped', seed: o.seed, numClasses: o.numClasses });
  if (!model.weightsFile) process.stderr.write(`vizoo: warning: no weights for ${o.model}: using random initialization (seed ${o.seed}); pass --weights\n`);
  return model;
}
