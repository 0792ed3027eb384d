/**
 * A training run's folder and what a resume may change. One folder holds one run: starting a new run in a
 * folder that holds another is refused (unless asked to overwrite it), and a resume refuses options that
 * would bend the run's schedule (its learning rates were laid out for the recorded ones).
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** Files and folders a training run writes into its output folder. */
export const RUN_FILES = ['checkpoint.json', 'checkpoints', 'log.jsonl', 'curves.png', 'model.safetensors', 'model_ema.safetensors'];

export class TrainingRunError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrainingRunError';
  }
}

/** The run files already in `out`. */
export function existingRun(out: string): string[] {
  if (!existsSync(out)) return [];
  const present = new Set(readdirSync(out));
  return RUN_FILES.filter((f) => present.has(f));
}

/** Before a new (not resumed) run: refuses a folder holding another run, or clears it when `overwrite`. */
export function prepareRunFolder(out: string, overwrite: boolean): void {
  const found = existingRun(out);
  if (!found.length) return;
  if (!overwrite) {
    throw new TrainingRunError(`${out} already holds a training run (${found.join(', ')}): pass --resume to continue it, --overwrite to replace it, or another --out`);
  }
  for (const f of found) rmSync(join(out, f), { recursive: true, force: true });
}

/** What a run's schedule and its reproduction depend on, recorded in every checkpoint. */
export interface RunConfig {
  epochs: number;
  batchSize: number;
  accumSteps: number;
  stepsPerEpoch: number;
  samples: number;
  numClasses: number;
  optimizer: string;
  lr: number;
  schedule: string;
  warmupSteps: number;
  warmupLr: number;
  minLr: number;
  weightDecay: number;
  momentum: number;
  seed: number;
  ema: number | null;
  labelSmoothing: number;
  mixup: number;
  cutmix: number;
  clipGrad: number | null;
}

/** Fields that lay out the learning-rate schedule, the data order or the optimizer: a resume must keep them. */
const SCHEDULE: (keyof RunConfig)[] = ['epochs', 'batchSize', 'accumSteps', 'stepsPerEpoch', 'samples', 'numClasses', 'optimizer', 'lr', 'schedule', 'warmupSteps', 'warmupLr', 'minLr', 'weightDecay', 'momentum', 'seed', 'ema'];

/** The option a RunConfig field comes from, for messages. */
const FLAG: Partial<Record<keyof RunConfig, string>> = {
  epochs: '--epochs', batchSize: '--batch-size', accumSteps: '--accum-steps', optimizer: '--opt', lr: '--lr', schedule: '--sched', warmupSteps: '--warmup-epochs',
  warmupLr: 'warmup lr', minLr: '--min-lr', weightDecay: '--weight-decay', momentum: '--momentum', seed: '--seed', ema: '--ema', labelSmoothing: '--label-smoothing',
  mixup: '--mixup', cutmix: '--cutmix', clipGrad: '--clip-grad', stepsPerEpoch: 'steps per epoch (the data)', samples: 'training samples (the data)', numClasses: '--num-classes',
};

/**
 * Compares a resume's options with the run's. Changes to the schedule are refused; other changes (loss terms,
 * clipping) are returned, one phrase each, for the caller to report.
 */
export function checkResume(out: string, recorded: RunConfig | undefined, now: RunConfig): string[] {
  if (!recorded) return [];
  const changed = (keys: (keyof RunConfig)[]) => keys.filter((k) => recorded[k] !== now[k]).map((k) => `${FLAG[k] ?? k} ${String(recorded[k])} -> ${String(now[k])}`);
  const breaking = changed(SCHEDULE);
  if (breaking.length) {
    throw new TrainingRunError(`${out}: cannot resume with other options than the run's (${breaking.join(', ')}): its learning-rate schedule and data order were laid out for the recorded ones; resume with them, or start over with --overwrite`);
  }
  return changed((Object.keys(now) as (keyof RunConfig)[]).filter((k) => !SCHEDULE.includes(k)));
}
