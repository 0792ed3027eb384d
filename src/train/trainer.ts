/**
 * `fit(model, data, opts)`: the training loop of timm's train.py in TypeScript. AdamW or SGD, cosine schedule
 * with warmup, label smoothing, mixup/cutmix, gradient clipping and accumulation, EMA, freezing, layer-wise LR
 * decay; checkpoints every N steps and at each epoch end, and an exact resume (model, optimizer, EMA, schedule,
 * RNG and data-order state). Deterministic given the seed.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tf, type Tensor, type Tensor4D } from '../tf.js';
import type { Module } from '../nn/module.js';
import { Rng, type RngState } from '../nn/rng.js';
import { variableGrads } from '../nn/autograd.js';
import { asReplay } from '../nn/checkpoint.js';
import { getGlobalRngState, seedEverything, setGlobalRngState } from '../nn/random.js';
import { resizeBilinear } from '../nn/functional.js';
import type { Dataset } from '../data/dataset.js';
import { type Batch, DataLoader } from '../data/loader.js';
import { makePrepare } from '../data/prepare.js';
import { type InputSpec, type TrainAugmentation, inputSpecFor } from '../data/transforms.js';
import type { PretrainedConfig } from '../models/registry.js';
import { saveWeights } from '../hub/weight_files.js';
import { atomicWriteFile } from '../util/fs.js';
import { AdamW, type Optimizer, SGD, clipGradNorm } from './optim.js';
import { type ScheduleConfig, learningRate } from './schedule.js';
import { pixelCrossEntropy, softTargetCrossEntropy } from './losses.js';
import { TRAIN_LOSSES } from './seg_losses.js';
import { mixBatch } from './mixup.js';
import { ModelEma } from './ema.js';
import { buildParamGroups, freezeParameters } from './param_groups.js';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { type RunConfig, checkResume, prepareRunFolder } from './run_folder.js';
import { type EvalMetrics, evaluate } from './evaluate.js';
import { writeCurvesPng } from './plot.js';
import { type MemoryPlan, PeakMeter, planStepMemory } from './memory.js';

/** What a training forward returns: one tensor, several, or named outputs (e.g. main/aux/boundary maps). */
export type TrainOutput = Tensor | Tensor[] | Record<string, Tensor>;

export interface TrainBatch {
  x: Tensor4D;
  /** (B) int32 labels or (B, H, W) int32 masks. */
  y: Tensor;
  /** Soft class targets (classification; mixup and label smoothing applied). */
  targets?: Tensor;
}

/**
 * A model the trainer can fit. Models whose training differs from inference (auxiliary heads) implement
 * `forwardTrain`; a model with its own loss names it in its pretrained config (`trainLoss`, e.g. 'bevanet').
 */
export type TrainableModel = Module & {
  forward(x: Tensor): Tensor | Tensor[];
  forwardTrain?(x: Tensor): TrainOutput;
  /** Per-block activation checkpointing (Backbone); models without it train without. */
  setGradCheckpointing?(enable: boolean): unknown;
  readonly gradCheckpointing?: boolean;
  variant?: string;
  headModules?: readonly string[];
  pretrainedCfg?: PretrainedConfig;
  numClasses?: number;
};

export interface StepInfo {
  epoch: number;
  /** Optimizer steps so far. */
  step: number;
  totalSteps: number;
  loss: number;
  lr: number;
  imagesPerSecond: number;
  etaSeconds: number;
  /** Peak tensor bytes during this optimizer step (forward, backward and update of every micro-batch). */
  peakBytes: number;
}

export interface EpochInfo {
  epoch: number;
  /** Optimizer steps at the end of the epoch. */
  step: number;
  trainLoss: number;
  eval?: EvalMetrics;
  seconds: number;
}

export interface FitCallbacks {
  onStep?: (s: StepInfo) => void;
  onEpoch?: (e: EpochInfo) => void;
  onSkip?: (source: string, message: string) => void;
  /** How the step was sized before the first one (backends with a memory cap: wasm). */
  onMemoryPlan?: (p: MemoryPlan) => void;
  /** A resumed run: where it continues, and options changed since it started (not touching its schedule). */
  onResume?: (r: { step: number; totalSteps: number; epoch: number; changed: string[] }) => void;
}

export interface FitOptions {
  epochs: number;
  batchSize: number;
  /** Input geometry and normalization (default: the model's pretrained config). */
  spec?: InputSpec;
  /** Default: the model's. */
  numClasses?: number;
  lr?: number;
  optimizer?: 'adamw' | 'sgd';
  weightDecay?: number;
  momentum?: number;
  nesterov?: boolean;
  betas?: [number, number];
  schedule?: ScheduleConfig['type'];
  warmupEpochs?: number;
  warmupLr?: number;
  minLr?: number;
  labelSmoothing?: number;
  mixup?: number;
  cutmix?: number;
  mixupProb?: number;
  mixupSwitchProb?: number;
  clipGrad?: number;
  accumSteps?: number;
  /**
   * Activation checkpointing per block (recompute each block's forward in its gradient; same gradients,
   * about a third more compute, a fraction of the memory). 'auto' (default): on when the backend's memory
   * cap (wasm: 4 GiB) would not hold the step without it.
   */
  gradCheckpoint?: boolean | 'auto';
  /** EMA decay of the weights (off when absent). */
  ema?: number;
  freeze?: string[];
  layerDecay?: number;
  noWeightDecay?: string[];
  augment?: TrainAugmentation;
  evalData?: Dataset;
  evalBatchSize?: number;
  /** Output folder: checkpoints, log.jsonl, curves.png, final weights. */
  outDir?: string;
  /** Checkpoint every N optimizer steps (and at every epoch end). */
  checkpointEvery?: number;
  keepCheckpoints?: number;
  /** Continue from outDir's latest checkpoint. */
  resume?: boolean;
  /** Start over in an outDir that holds another run (its checkpoints, log and weights are removed); else refused. */
  overwrite?: boolean;
  seed?: number;
  prefetch?: number;
  /** Loss over the training output; default: the model's `trainingLoss`, else CE (soft targets / ignore index). */
  loss?: (output: TrainOutput, batch: TrainBatch) => Tensor;
  callbacks?: FitCallbacks;
  /** Log a step line every N optimizer steps (default 10). */
  logInterval?: number;
  /** Stop after this many optimizer steps in total (tests, smoke runs). */
  maxSteps?: number;
  /** Early stopping: checked after each epoch (with its evaluation); true ends training there. */
  stopWhen?: (e: EpochInfo) => boolean;
}

export interface FitResult {
  steps: number;
  epochs: number;
  history: EpochInfo[];
  lastLoss: number;
  skipped: { source: string; message: string }[];
  finalWeights?: string;
}

interface TrainerState {
  epoch: number;
  stepInEpoch: number;
  optStep: number;
  microStep: number;
  globalRng: RngState;
  trainerRng: RngState;
  history: EpochInfo[];
  epochLossSum: number;
  epochLossCount: number;
  skipped: { source: string; message: string }[];
  /** The options the run started with (absent in checkpoints of older vizoo versions). */
  config?: RunConfig;
}

function defaultLoss(task: Dataset['task'], ignoreIndex: number) {
  return (out: TrainOutput, b: TrainBatch): Tensor => {
    const logits = out instanceof tf.Tensor ? out : Array.isArray(out) ? out[0]! : Object.values(out)[0]!;
    if (task === 'classification') return softTargetCrossEntropy(logits, b.targets!);
    const [, h, w] = b.y.shape as [number, number, number];
    const up = logits.shape[1] === h && logits.shape[2] === w ? logits : resizeBilinear(logits as Tensor4D, [h, w]);
    return pixelCrossEntropy(up, b.y, ignoreIndex);
  };
}

export async function fit(model: TrainableModel, data: Dataset, o: FitOptions): Promise<FitResult> {
  const seed = o.seed ?? 0;
  const accum = Math.max(1, o.accumSteps ?? 1);
  const spec = o.spec ?? (model.pretrainedCfg ? inputSpecFor(model.pretrainedCfg) : undefined);
  if (!spec) throw new Error('fit: pass opts.spec (the model has no pretrained config to take the input size from)');
  const numClasses = o.numClasses ?? model.numClasses ?? data.classes.length;
  if (o.freeze?.length) freezeParameters(model, o.freeze);
  const groups = buildParamGroups(model, { weightDecay: o.weightDecay ?? 0.05, noDecay: o.noWeightDecay, layerDecay: o.layerDecay, headModules: model.headModules });
  const optType = o.optimizer ?? 'adamw';
  const optimizer: Optimizer = optType === 'sgd' ? new SGD(groups, o.momentum ?? 0.9, o.nesterov ?? false) : new AdamW(groups, o.betas ?? [0.9, 0.999]);
  const loader = new DataLoader(data, {
    batchSize: o.batchSize,
    shuffle: true,
    seed,
    dropLast: data.length >= o.batchSize,
    prefetch: o.prefetch,
    shape: [spec.height, spec.width, spec.channels],
    prepare: makePrepare(spec, true, o.augment),
    onSkip: o.callbacks?.onSkip,
  });
  const stepsPerEpoch = Math.ceil(loader.stepsPerEpoch / accum);
  const totalSteps = Math.min(o.maxSteps ?? Infinity, stepsPerEpoch * o.epochs);
  const sched: ScheduleConfig = {
    type: o.schedule ?? 'cosine',
    baseLr: o.lr ?? (optType === 'sgd' ? 0.1 : 1e-3),
    totalSteps: stepsPerEpoch * o.epochs,
    warmupSteps: Math.round((o.warmupEpochs ?? 0) * stepsPerEpoch),
    warmupLr: o.warmupLr ?? 1e-6,
    minLr: o.minLr ?? 1e-6,
  };
  const ignoreIndex = data.task === 'segmentation' ? data.ignoreIndex : 255;
  const modelLoss = model.pretrainedCfg?.trainLoss;
  if (modelLoss && !TRAIN_LOSSES[modelLoss]) throw new Error(`unknown training loss '${modelLoss}' in the model's config`);
  const lossFn = o.loss ?? (modelLoss ? TRAIN_LOSSES[modelLoss]! : defaultLoss(data.task, ignoreIndex));
  const ema = o.ema ? new ModelEma(model, o.ema) : null;
  const trainerRng = new Rng(seed ^ 0x6d1c5eed);
  const config: RunConfig = {
    epochs: o.epochs, batchSize: o.batchSize, accumSteps: accum, stepsPerEpoch, samples: data.length, numClasses, optimizer: optType, lr: sched.baseLr,
    schedule: sched.type, warmupSteps: sched.warmupSteps ?? 0, warmupLr: sched.warmupLr ?? 1e-6, minLr: sched.minLr ?? 1e-6, weightDecay: o.weightDecay ?? 0.05,
    momentum: o.momentum ?? 0.9, seed, ema: o.ema ?? null, labelSmoothing: o.labelSmoothing ?? 0, mixup: o.mixup ?? 0, cutmix: o.cutmix ?? 0, clipGrad: o.clipGrad ?? null,
  };
  let st: TrainerState = {
    epoch: 0, stepInEpoch: 0, optStep: 0, microStep: 0, globalRng: { s: [], spare: null }, trainerRng: trainerRng.getState(),
    history: [], epochLossSum: 0, epochLossCount: 0, skipped: [], config,
  };
  seedEverything(seed);
  const out = o.outDir;
  if (out && !o.resume) prepareRunFolder(out, o.overwrite ?? false);
  if (out) mkdirSync(out, { recursive: true });
  const logPath = out ? join(out, 'log.jsonl') : null;
  const stepLosses: [number, number][] = [];

  if (o.resume) {
    if (!out) throw new Error('resume needs an output folder');
    const ck = loadCheckpoint(out, model);
    st = ck.state as unknown as TrainerState;
    const changed = checkResume(out, st.config, config);
    st.config = config;
    o.callbacks?.onResume?.({ step: st.optStep, totalSteps, epoch: st.epoch, changed });
    optimizer.loadState(ck.optimizer, st.optStep);
    if (ema) ema.loadState(ck.ema);
    setGlobalRngState(st.globalRng);
    trainerRng.setState(st.trainerRng);
    loader.skipped.push(...st.skipped);
    // Drop log lines written after this checkpoint by the interrupted run.
    if (logPath && existsSync(logPath)) {
      // A line cut by the kill is not valid JSON: dropped too.
      const kept = readFileSync(logPath, 'utf8').split('\n').filter((l) => (parseLogLine(l)?.step ?? Infinity) <= st.optStep);
      atomicWriteFile(logPath, kept.map((l) => `${l}\n`).join(''));
    }
  }
  if (logPath && existsSync(logPath)) {
    for (const l of readFileSync(logPath, 'utf8').split('\n')) {
      const r = parseLogLine(l);
      if (r?.type === 'step') stepLosses.push([r.step, r.loss!]);
    }
  }
  const log = (rec: Record<string, unknown>) => logPath && appendFileSync(logPath, `${JSON.stringify(rec)}\n`);

  // A resumed run starts from a checkpoint of its current step.
  let checkpointedAt = o.resume ? st.optStep : -1;
  const checkpoint = async () => {
    if (!out || checkpointedAt === st.optStep) return;
    checkpointedAt = st.optStep;
    const state: TrainerState = { ...st, globalRng: getGlobalRngState(), trainerRng: trainerRng.getState(), skipped: loader.skipped };
    await saveCheckpoint(out, `step-${String(st.optStep).padStart(8, '0')}`, model, { optimizer: await optimizer.stateTensors(), ema: ema ? await ema.stateTensors() : undefined }, state as unknown as Record<string, unknown>, o.keepCheckpoints ?? 2);
  };

  const trainable = model.namedParameters().filter(([, p]) => p.trainable);
  const byVarName = new Map(trainable.map(([k, p]) => [p.value.name, k]));
  const vars = trainable.map(([, p]) => p.value);
  let pending: Map<string, Tensor> | null = null;
  let pendingCount = 0;
  let lastLoss = NaN;
  const t0 = performance.now();
  let imagesSeen = 0;

  const applyUpdate = () => {
    if (!pending) return;
    const grads = pending;
    if (pendingCount !== accum) for (const [k, g] of grads) grads.set(k, tf.tidy(() => tf.mul(g, accum / pendingCount)));
    if (o.clipGrad) clipGradNorm(grads, o.clipGrad).dispose();
    optimizer.step(grads, learningRate(sched, st.optStep));
    tf.dispose([...grads.values()]);
    pending = null;
    pendingCount = 0;
    ema?.update();
    st.optStep++;
  };

  const checkpointingBefore = model.gradCheckpointing ?? false;
  const ctx: StepContext = { model, task: data.task, o, numClasses, lossFn, vars };
  useCheckpointing(model, planMemory(ctx, spec, optimizer, accum) ?? checkpointingBefore);
  const meter = new PeakMeter();
  let stepPeak = 0;

  let stop = st.optStep >= totalSteps;
  while (!stop && st.epoch < o.epochs) {
    model.train();
    const epochStart = performance.now();
    for await (const batch of loader.epoch(st.epoch, st.stepInEpoch)) {
      const lr = learningRate(sched, st.optStep);
      if (pendingCount === 0) meter.start();
      const loss = await trainStep(ctx, batch, trainerRng, byVarName, accum, (grads) => {
        if (!pending) pending = grads;
        else {
          for (const [k, g] of grads) {
            const prev = pending.get(k);
            pending.set(k, prev ? tf.tidy(() => tf.add(prev, g)) : tf.keep(g.clone()));
            prev?.dispose();
            g.dispose();
          }
        }
        pendingCount++;
      });
      tf.dispose([batch.x, batch.y]);
      st.microStep++;
      st.stepInEpoch++;
      imagesSeen += batch.indices.length;
      lastLoss = loss;
      st.epochLossSum += loss;
      st.epochLossCount++;
      if (pendingCount === accum) {
        applyUpdate();
        stepPeak = meter.stop();
        const elapsed = (performance.now() - t0) / 1000;
        const ips = imagesSeen / Math.max(1e-9, elapsed);
        const info: StepInfo = { epoch: st.epoch, step: st.optStep, totalSteps, loss, lr, imagesPerSecond: ips, etaSeconds: ((totalSteps - st.optStep) * o.batchSize * accum) / Math.max(1e-9, ips), peakBytes: stepPeak };
        o.callbacks?.onStep?.(info);
        if (st.optStep % (o.logInterval ?? 10) === 0 || st.optStep === totalSteps) {
          log({ type: 'step', epoch: st.epoch, step: st.optStep, loss, lr, images_per_second: ips, peak_bytes: stepPeak });
          stepLosses.push([st.optStep, loss]);
        }
        if (o.checkpointEvery && st.optStep % o.checkpointEvery === 0) await checkpoint();
        if (st.optStep >= totalSteps) {
          stop = true;
          break;
        }
      }
    }
    if (stop && st.stepInEpoch < loader.stepsPerEpoch) break;
    // End of epoch: apply a partial accumulation (as timm does for the last batch).
    if (pending) applyUpdate();
    const info: EpochInfo = { epoch: st.epoch, step: st.optStep, trainLoss: st.epochLossSum / Math.max(1, st.epochLossCount), seconds: (performance.now() - epochStart) / 1000 };
    if (o.evalData) {
      const run = () => evaluate(model as never, o.evalData!, { spec, numClasses, batchSize: o.evalBatchSize ?? o.batchSize, onSkip: o.callbacks?.onSkip });
      info.eval = ema ? await ema.withWeights(run) : await run();
    }
    st.history.push(info);
    log({ type: 'epoch', epoch: st.epoch, step: st.optStep, train_loss: info.trainLoss, eval: info.eval && summarize(info.eval), seconds: info.seconds });
    o.callbacks?.onEpoch?.(info);
    st.epoch++;
    st.stepInEpoch = 0;
    st.epochLossSum = 0;
    st.epochLossCount = 0;
    await checkpoint();
    if (out) await plot(out, stepLosses, st.history);
    if (o.stopWhen?.(info)) break;
  }
  meter.stop();
  // Every stop leaves a checkpoint (a --max-steps stop mid-epoch included), so the run can be resumed.
  await checkpoint();
  if (pending) tf.dispose([...(pending as Map<string, Tensor>).values()]);
  useCheckpointing(model, checkpointingBefore);
  const result: FitResult = { steps: st.optStep, epochs: st.epoch, history: st.history, lastLoss, skipped: loader.skipped };
  if (out) {
    result.finalWeights = join(out, 'model.safetensors');
    await saveWeights(model, result.finalWeights);
    if (ema) await ema.withWeights(() => saveWeights(model, join(out, 'model_ema.safetensors')));
    await plot(out, stepLosses, st.history);
  }
  optimizer.dispose();
  ema?.dispose();
  return result;
}

/** What every training step of a fit() call shares. */
interface StepContext {
  model: TrainableModel;
  task: Dataset['task'];
  o: FitOptions;
  numClasses: number;
  lossFn: NonNullable<FitOptions['loss']>;
  vars: tf.Variable[];
}

/** One forward/backward on a batch; hands the (1/accum-scaled) gradients to `collect`; returns the loss. */
async function trainStep(ctx: StepContext, batch: Batch, rng: Rng, byVarName: Map<string, string>, accum: number, collect: (grads: Map<string, Tensor>) => void): Promise<number> {
  const { value, grads } = stepGradients(ctx, batch, rng, accum);
  const named = new Map<string, Tensor>();
  for (const [name, g] of Object.entries(grads)) named.set(byVarName.get(name)!, g);
  collect(named);
  // Read asynchronously: WebGPU tensors must not be read synchronously.
  const loss = ((await value.data()) as Float32Array)[0]! * accum;
  value.dispose();
  return loss;
}

/** The training loss of a batch (mixup/cutmix applied, divided by `accum`) and its gradients by variable name. */
function stepGradients(ctx: StepContext, batch: Pick<Batch, 'x' | 'y'>, rng: Rng, accum: number): { value: tf.Scalar; grads: Record<string, Tensor> } {
  const { model, task, o, numClasses, lossFn, vars } = ctx;
  let x = batch.x;
  let targets: Tensor | undefined;
  if (task === 'classification') {
    const mixed = mixBatch(batch.x, batch.y, { mixupAlpha: o.mixup ?? 0, cutmixAlpha: o.cutmix ?? 0, prob: o.mixupProb, switchProb: o.mixupSwitchProb, labelSmoothing: o.labelSmoothing, numClasses }, rng);
    x = mixed.x;
    targets = mixed.targets;
  }
  const forward = (t: Tensor): TrainOutput => (model.forwardTrain ? model.forwardTrain(t) : model.forward(t));
  try {
    return variableGrads(() => tf.div(lossFn(forward(x), { x, y: batch.y, targets }), accum) as tf.Scalar, vars);
  } finally {
    if (x !== batch.x) x.dispose();
    targets?.dispose();
  }
}

function useCheckpointing(model: TrainableModel, on: boolean): void {
  model.setGradCheckpointing?.(on);
}

/**
 * Sizes the step before the first one on a backend with a memory cap (see memory.ts): probe steps at
 * batch 1 and 2 on zeros, run as replays (running statistics untouched, the global Rng restored), so
 * training goes on exactly as without them. Returns whether to checkpoint (null: not decided here).
 */
function planMemory(ctx: StepContext, spec: InputSpec, optimizer: Optimizer, accum: number): boolean | null {
  const { model, task, o, vars } = ctx;
  const mode = o.gradCheckpoint ?? 'auto';
  const canCheckpoint = typeof model.setGradCheckpointing === 'function';
  const what = `${model.variant || model.constructor.name} on ${spec.height}x${spec.width} images`;
  if (mode === true && !canCheckpoint) throw new Error(`gradient checkpointing: ${what} has no blocks to checkpoint (only vizoo backbones do)`);
  const before = model.gradCheckpointing ?? false;
  const params = vars.reduce((n, v) => n + v.size, 0);
  const imageBytes = spec.height * spec.width * (spec.channels + (task === 'segmentation' ? 1 : 0)) * 4;
  const probe = (batch: number, checkpointing: boolean): number => {
    useCheckpointing(model, checkpointing);
    const x = tf.zeros([batch, spec.height, spec.width, spec.channels]) as Tensor4D;
    const y = tf.zeros(task === 'segmentation' ? [batch, spec.height, spec.width] : [batch], 'int32');
    const rngState = getGlobalRngState();
    const meter = new PeakMeter().start();
    const start = tf.memory().numBytes;
    try {
      asReplay(() => {
        const { value, grads } = stepGradients(ctx, { x, y }, new Rng(0), 1);
        tf.dispose([value, ...Object.values(grads)]);
      });
    } finally {
      setGlobalRngState(rngState);
      tf.dispose([x, y]);
    }
    return meter.stop() - start;
  };
  try {
    const plan = planStepMemory({
      what,
      batchSize: o.batchSize,
      mode,
      canCheckpoint,
      fixedBytes: tf.memory().numBytes + Math.max(0, optimizer.slotBytesPerElement * params - optimizer.stateBytes) + (accum > 1 ? 4 * params : 0),
      queuedBytesPerImage: (Math.max(1, o.prefetch ?? 2) + 1) * imageBytes,
      probe,
    });
    if (plan) o.callbacks?.onMemoryPlan?.(plan);
    return plan ? plan.checkpointing : mode === 'auto' ? null : mode;
  } finally {
    useCheckpointing(model, before);
  }
}

function parseLogLine(l: string): { type: string; step: number; loss?: number } | null {
  try {
    return l ? (JSON.parse(l) as { type: string; step: number; loss?: number }) : null;
  } catch {
    return null;
  }
}

function summarize(m: EvalMetrics): Record<string, number> {
  return m.task === 'classification' ? { top1: m.top1, top5: m.top5 } : { mIoU: m.mIoU, pixel_accuracy: m.pixelAccuracy };
}

async function plot(out: string, stepLosses: [number, number][], history: EpochInfo[]): Promise<void> {
  const metric = (k: 'top1' | 'top5' | 'mIoU') =>
    history.filter((h) => h.eval && k in h.eval).map((h) => [h.epoch + 1, (h.eval as unknown as Record<string, number>)[k]!] as [number, number]);
  await writeCurvesPng(
    join(out, 'curves.png'),
    [
      { label: 'loss', color: '#1f77b4', points: stepLosses },
      { label: 'epoch mean', color: '#ff7f0e', points: history.map((h) => [h.step, h.trainLoss] as [number, number]) },
    ],
    [
      { label: 'top-1', color: '#2ca02c', points: metric('top1') },
      { label: 'top-5', color: '#9467bd', points: metric('top5') },
      { label: 'mIoU', color: '#d62728', points: metric('mIoU') },
    ],
  );
}
