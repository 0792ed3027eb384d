import type { Command } from 'commander';
import { join } from 'node:path';
import {
  type Backbone, type Dataset, formatBytes, resolveWeights, type FitOptions, type InputSpec, ProgressBar, createModel, fit, formatSeconds, hasEvalSplit, inputSpecFor, loadForFinetune, openDataset, type Split,
} from '../../src/index.js';
import { action, backendOption, checkpointKeyOption, keyMapOption, parseIntArg, resolveModelName, seedOption, selectBackend } from '../common.js';

const num = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`${name} must be a number, got '${v}'`);
  return n;
};

function parseSize(v: string): [number, number] {
  const m = /^(\d+)(?:x(\d+))?$/.exec(v);
  if (!m) throw new Error(`--input-size must be N or HxW, got '${v}'`);
  return [Number(m[1]), Number(m[2] ?? m[1])];
}

interface TrainCli {
  model?: string;
  weights?: string;
  checkpointKey?: string;
  keyMap?: string;
  data: string;
  valData?: string;
  eval: boolean;
  epochs: number;
  batchSize: number;
  lr?: number;
  opt: 'adamw' | 'sgd';
  momentum: number;
  weightDecay: number;
  sched: 'cosine' | 'constant' | 'step';
  warmupEpochs: number;
  minLr: number;
  labelSmoothing: number;
  mixup: number;
  cutmix: number;
  clipGrad?: number;
  accumSteps: number;
  gradCheckpoint?: boolean;
  ema?: number;
  dropPath: number;
  drop: number;
  freeze?: string;
  layerDecay?: number;
  inputSize?: [number, number];
  inChans?: number;
  numClasses?: number;
  augScale: string;
  hflip: number;
  colorJitter: number;
  out?: string;
  resume?: boolean;
  overwrite?: boolean;
  mixer?: string;
  checkpointEvery?: number;
  maxSteps?: number;
  logInterval: number;
  seed: number;
  backend: string;
  json?: boolean;
}

function addTrainOptions(cmd: Command): Command {
  return cmd
    .requiredOption('-d, --data <spec>', 'fashion-mnist | synthetic:shapes[:N] | synthetic:seg-shapes[:N] | <folder> (class sub-folders, or images/ + masks/)')
    .option('--val-data <spec>', 'evaluation data (default: the val/test split of --data)')
    .option('--no-eval', 'skip evaluation after each epoch')
    .option('-e, --epochs <n>', 'epochs', parseIntArg('--epochs', 1), 10)
    .option('-b, --batch-size <n>', 'batch size', parseIntArg('--batch-size', 1), 64)
    .option('--lr <lr>', 'peak learning rate (default 1e-3 adamw, 0.1 sgd)', num('--lr'))
    .option('--opt <name>', 'optimizer: adamw | sgd', 'adamw')
    .option('--momentum <m>', 'SGD momentum', num('--momentum'), 0.9)
    .option('--weight-decay <wd>', 'decoupled weight decay (none on norms, biases, 1-D parameters)', num('--weight-decay'), 0.05)
    .option('--sched <name>', 'cosine | constant | step', 'cosine')
    .option('--warmup-epochs <n>', 'linear warmup', num('--warmup-epochs'), 0)
    .option('--min-lr <lr>', 'cosine floor', num('--min-lr'), 1e-6)
    .option('--label-smoothing <e>', 'label smoothing', num('--label-smoothing'), 0)
    .option('--mixup <alpha>', 'mixup alpha (0 = off)', num('--mixup'), 0)
    .option('--cutmix <alpha>', 'cutmix alpha (0 = off)', num('--cutmix'), 0)
    .option('--clip-grad <norm>', 'clip gradients to this global norm', num('--clip-grad'))
    .option('--accum-steps <n>', 'gradient accumulation steps', parseIntArg('--accum-steps', 1), 1)
    .option('--grad-checkpoint', "recompute each block's forward in the backward pass: same gradients, far less memory (default: on when the backend's memory cap needs it)")
    .option('--no-grad-checkpoint', 'never checkpoint (a step too large for the backend is then an error)')
    .option('--ema <decay>', 'keep an EMA of the weights (e.g. 0.999); evaluation uses it', num('--ema'))
    .option('--drop-path <p>', 'stochastic depth rate', num('--drop-path'), 0)
    .option('--drop <p>', 'dropout rate', num('--drop'), 0)
    .option('--freeze <patterns>', "freeze parameters by name, comma separated (e.g. 'patch_embed1.*,block1.*')")
    .option('--layer-decay <f>', 'layer-wise learning-rate decay', num('--layer-decay'))
    .option('--input-size <n|HxW>', "training resolution; the model is built for it (img_size) (default: the model's config)", parseSize)
    .option('--in-chans <n>', 'input channels', parseIntArg('--in-chans', 1))
    .option('--num-classes <n>', 'classes (default: the dataset classes)', parseIntArg('--num-classes', 1))
    .option('--aug-scale <lo,hi|none>', 'RandomResizedCrop scale range, or none', '0.08,1')
    .option('--hflip <p>', 'horizontal flip probability', num('--hflip'), 0.5)
    .option('--color-jitter <s>', 'brightness/contrast/saturation jitter', num('--color-jitter'), 0)
    .option('-o, --out <dir>', 'output folder (default runs/<model>-<time>)')
    .option('--resume', "continue from the output folder's latest checkpoint (with the run's options)")
    .option('--overwrite', 'start over in an output folder that holds another run (its checkpoints, log and weights are removed)')
    .option('--checkpoint-every <n>', 'checkpoint every N optimizer steps (always at epoch end)', parseIntArg('--checkpoint-every', 1))
    .option('--max-steps <n>', 'stop after N optimizer steps', parseIntArg('--max-steps', 1))
    .option('--log-interval <n>', 'log a step line every N steps', parseIntArg('--log-interval', 1), 10)
    .option('--json', 'print the result as JSON')
    .addOption(seedOption())
    .addOption(backendOption());
}

async function run(o: TrainCli, finetune: boolean): Promise<number> {
  await selectBackend(o.backend);
  if (o.weights) o.weights = await resolveWeights(o.weights);
  const data = openDataset(o.data, 'train');
  let evalData: Dataset | undefined;
  if (o.eval && !o.valData && !hasEvalSplit(o.data)) {
    process.stderr.write(`vizoo: warning: ${o.data} has no val/ or test/ folder: no evaluation after each epoch (pass --val-data, or add a val/ folder)\n`);
  } else if (o.eval) evalData = openDataset(o.valData ?? o.data, (o.valData ? 'train' : 'val') as Split);
  const numClasses = o.numClasses ?? data.classes.length;
  const name = resolveModelName(o, undefined);
  let model: Backbone;
  if (finetune) {
    if (!o.weights) throw new Error('finetune needs --weights');
    const start = loadForFinetune(name, o.weights, { numClasses, inChans: o.inChans, imgSize: o.inputSize, seed: o.seed, dropPathRate: o.dropPath, dropRate: o.drop, checkpointKey: o.checkpointKey, keyMap: o.keyMap });
    model = start.model;
    if (start.reset.length) process.stderr.write(`vizoo: re-initialized ${start.reset.join(', ')} (new head for ${numClasses} classes)\n`);
  } else model = createModel(name, { numClasses, inChans: o.inChans, imgSize: o.inputSize, seed: o.seed, dropPathRate: o.dropPath, dropRate: o.drop, ...(o.mixer ? { mixer: o.mixer } : {}) });
  const base = inputSpecFor(model.pretrainedCfg);
  const spec: InputSpec = { ...base, channels: o.inChans ?? base.channels, ...(o.inputSize ? { height: o.inputSize[0], width: o.inputSize[1] } : {}) };
  if (spec.channels !== base.channels) Object.assign(spec, { mean: Array(spec.channels).fill(base.mean[0]), std: Array(spec.channels).fill(base.std[0]) });
  // The weights this run writes describe themselves: their classes, preprocessing and where they come from.
  const origin = finetune ? `fine-tuned by vizoo from ${o.weights} on ${o.data}` : `trained by vizoo on ${o.data}`;
  const labels = data.classes.length === numClasses ? data.classes : Array.from({ length: numClasses }, (_, i) => `class ${i}`);
  model.pretrainedCfg = { ...model.pretrainedCfg, inputSize: [spec.channels, spec.height, spec.width], mean: [...spec.mean], std: [...spec.std], numClasses, labels, dataset: o.data, notes: origin, metrics: undefined };
  const out = o.out ?? join('runs', `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  const scale = o.augScale === 'none' ? null : (o.augScale.split(',').map(Number) as [number, number]);
  const bar = new ProgressBar({ total: 1, label: 'train' });
  let barTotal = 0;
  const warned = new Set<string>();
  const opts: FitOptions = {
    epochs: o.epochs, batchSize: o.batchSize, spec, numClasses, lr: o.lr, optimizer: o.opt, weightDecay: o.weightDecay, momentum: o.momentum,
    schedule: o.sched, warmupEpochs: o.warmupEpochs, minLr: o.minLr, labelSmoothing: o.labelSmoothing, mixup: o.mixup, cutmix: o.cutmix,
    clipGrad: o.clipGrad, accumSteps: o.accumSteps, gradCheckpoint: o.gradCheckpoint ?? 'auto', ema: o.ema, freeze: o.freeze?.split(',').map((s) => s.trim()).filter(Boolean), layerDecay: o.layerDecay,
    augment: { scale, hflip: o.hflip, colorJitter: o.colorJitter }, evalData, outDir: out, resume: o.resume, overwrite: o.overwrite, checkpointEvery: o.checkpointEvery,
    maxSteps: o.maxSteps, seed: o.seed, logInterval: o.logInterval,
    callbacks: {
      onStep: (s) => {
        if (!barTotal) bar.setTotal((barTotal = s.totalSteps));
        const info = `epoch ${s.epoch + 1}/${o.epochs} loss ${s.loss.toFixed(4)} lr ${s.lr.toExponential(2)}`;
        if (bar.enabled) bar.update(s.step, info);
        // Not a terminal (a log file, CI): a plain line every --log-interval steps instead of the bar.
        else if (s.step % o.logInterval === 0 || s.step === s.totalSteps) {
          process.stderr.write(`step ${s.step}/${s.totalSteps} ${info} ${s.imagesPerSecond.toFixed(1)} img/s ETA ${formatSeconds(s.etaSeconds)}\n`);
        }
      },
      onResume: (r) => {
        process.stderr.write(`vizoo: resuming ${out} from step ${r.step} of ${r.totalSteps} (epoch ${r.epoch + 1} of ${o.epochs})\n`);
        if (r.changed.length) process.stderr.write(`vizoo: changed since the run started: ${r.changed.join(', ')}\n`);
      },
      onEpoch: (e) => {
        bar.finish();
        const ev = e.eval ? (e.eval.task === 'classification' ? `, val top-1 ${e.eval.top1.toFixed(4)}, val top-5 ${e.eval.top5.toFixed(4)}` : `, val mIoU ${e.eval.mIoU.toFixed(4)}, val pixel acc ${e.eval.pixelAccuracy.toFixed(4)}`) : '';
        process.stderr.write(`epoch ${e.epoch + 1}/${o.epochs}: train loss ${e.trainLoss.toFixed(4)}${ev} (${formatSeconds(e.seconds)})\n`);
      },
      onMemoryPlan: (p) => {
        if (p.checkpointing && o.gradCheckpoint === undefined) {
          process.stderr.write(`vizoo: gradient checkpointing on: a step at batch ${p.batchSize} needs about ${formatBytes(p.plainBytes ?? 0)} without it, ${formatBytes(p.stepBytes)} with it (${p.limit})\n`);
        }
      },
      onSkip: (source, message) => {
        if (warned.has(source)) return;
        warned.add(source);
        process.stderr.write(`vizoo: warning: skipped ${message}\n`);
      },
    },
  };
  const r = await fit(model, data, opts);
  bar.finish();
  const last = r.history.at(-1)?.eval;
  const skipped = [...new Set(r.skipped.map((s) => s.source))];
  const summary = { model: name, out, steps: r.steps, epochs: r.epochs, last_loss: r.lastLoss, weights: r.finalWeights, skipped, eval: last };
  if (skipped.length) process.stderr.write(`vizoo: skipped ${skipped.length} corrupt sample(s): ${skipped.join(', ')}\n`);
  if (o.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else process.stdout.write(`trained ${name} for ${r.steps} steps; weights: ${r.finalWeights}; log: ${join(out, 'log.jsonl')}; curves: ${join(out, 'curves.png')}\n`);
  return 0;
}

export function registerTrain(program: Command): void {
  addTrainOptions(
    program
      .command('train')
      .description('train a model from scratch (timm train.py-style recipe)')
      .option('-m, --model <name>', 'registered model name')
      .option('--mixer <name>', 'ViTs (vit_*): the token mixer (vizoo list --mixers); recorded in the weights'),
  ).action(
    action(async (o: TrainCli) => run(o, false)),
  );
  addTrainOptions(
    program
      .command('finetune')
      .description('fine-tune from weights: a new --num-classes resets the head, a new --in-chans adapts the first conv')
      .option('-m, --model <name>', 'registered model name (default: the model the weights file names)')
      .requiredOption('-w, --weights <file>', 'starting weights (.safetensors, PyTorch .pth/.bin/.ckpt, .onnx, hf:org/repo[/file], https://...)')
      .addOption(checkpointKeyOption())
      .addOption(keyMapOption()),
  ).action(action(async (o: TrainCli) => run(o, true)));
}
