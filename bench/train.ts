/**
 * Training-step benchmark at 224x224 (AdamW, soft-target cross-entropy, vizoo's freeing backward pass) on
 * wasm: van_b0, unireplknet_a, nat_mini, litv2_s and vig_t at batch 8 (plain step) and batch 32 (per-block
 * checkpointing). Each case is first sized by the trainer's memory check (probe steps at batch 1 and 2), so a
 * step the wasm heap cannot hold is reported, not run. Prints images/s, the peak tensor bytes of a step and
 * the wasm heap. The PyTorch column: with $VIZOO_BENCH_OFFICIAL naming a folder that holds checkouts of the
 * official repositories (VAN-Classification, UniRepLKNet), the same step of the official model (same batch,
 * torch.utils.checkpoint where vizoo checkpoints) is timed in this run by bench/torch_train_step.py with
 * Debian's python3-torch on one thread ($VIZOO_BENCH_PYTHON, default /usr/bin/python3), and the ratio of
 * images/s is printed. NAT, LITv2 and ViG have no column: their official code needs CUDA-only extensions
 * (NATTEN, the DCN op, Triton kernels). VIZOO_BENCH_TRAIN_STEPS sets the timed steps (default 1; the probe
 * steps serve as warm-up).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { AdamW, PeakMeter, buildParamGroups, createModel, planStepMemory, tf, variableGrads } from '../src/index.js';
import { smoothOneHot, softTargetCrossEntropy } from '../src/train/losses.js';
import type { BenchCase, BenchModule, Reference } from './types.js';

const STEPS = Number(process.env.VIZOO_BENCH_TRAIN_STEPS ?? 1);
const MODELS = ['van_b0', 'unireplknet_a', 'nat_mini', 'litv2_s', 'vig_t'];
/** Models bench/torch_train_step.py can build from their official code on a CPU. */
const OFFICIAL = new Set(['van_b0', 'unireplknet_a']);
const HARNESS = fileURLToPath(new URL('../../bench/torch_train_step.py', import.meta.url));
const SIZE = 224;

/** The official PyTorch model's step, or null when the official checkout or python3-torch is missing. */
async function torchStep(model: string, batch: number, checkpoint: boolean): Promise<Reference | null> {
  const root = process.env.VIZOO_BENCH_OFFICIAL;
  if (!root || !existsSync(root) || !OFFICIAL.has(model)) return null;
  const python = process.env.VIZOO_BENCH_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
  const args = [HARNESS, '--root', root, '--model', model, '--batch', String(batch), '--size', String(SIZE), '--steps', String(STEPS), ...(checkpoint ? ['--checkpoint'] : [])];
  try {
    const { stdout } = await promisify(execFile)(python, args, { maxBuffer: 1 << 20 });
    const r = JSON.parse(stdout.trim().split('\n').at(-1)!) as { seconds: number; peak_rss_bytes: number; torch: string };
    return { label: `official PyTorch ${r.torch}, 1 thread`, ms: r.seconds * 1000, peakBytes: r.peak_rss_bytes };
  } catch (e) {
    process.stderr.write(`  PyTorch ${model} batch ${batch}: skipped (${(e as Error).message.split('\n')[0]})\n`);
    return null;
  }
}

function trainCase(name: string, batch: number, checkpoint: boolean): BenchCase {
  return {
    name: `${name} train step ${batch}x3x${SIZE}x${SIZE}${checkpoint ? ' checkpointed' : ''}`,
    backends: ['wasm'],
    // The memory check's probe steps (batch 1 and 2) have already run every kernel once.
    warmup: 0,
    iterations: STEPS,
    images: batch,
    reference: () => torchStep(name, batch, checkpoint),
    setup: async () => {
      const model = createModel(name, { numClasses: 1000 }).train().setGradCheckpointing(checkpoint);
      const opt = new AdamW(buildParamGroups(model, { weightDecay: 0.05 }));
      const params = model.namedParameters();
      const vars = params.map(([, p]) => p.value);
      const keyOf = new Map(params.map(([k, p]) => [p.value.name, k]));
      const grads = (b: number) => {
        const x = tf.randomNormal([b, SIZE, SIZE, 3], 0, 1, 'float32', 1);
        const targets = tf.tidy(() => smoothOneHot(tf.tensor1d(Array.from({ length: b }, (_, i) => i), 'int32'), 1000, 0.1));
        const r = variableGrads(() => softTargetCrossEntropy(model.forward(x), targets) as tf.Scalar, vars);
        tf.dispose([x, targets]);
        return r;
      };
      // The trainer's check: refuse (TrainingMemoryError) what the 4 GiB heap would not hold.
      planStepMemory({
        what: `${name} on ${SIZE}x${SIZE} images`,
        batchSize: batch,
        mode: checkpoint,
        canCheckpoint: true,
        fixedBytes: tf.memory().numBytes + 8 * vars.reduce((n, v) => n + v.size, 0),
        queuedBytesPerImage: 0,
        probe: (b) => {
          const meter = new PeakMeter().start();
          const start = tf.memory().numBytes;
          const r = grads(b);
          tf.dispose([r.value, ...Object.values(r.grads)]);
          return meter.stop() - start;
        },
      });
      // The optimizer's state exists before the timed steps (a step at learning rate 0 with zero gradients).
      const zeros = new Map(params.map(([k, p]) => [k, tf.zerosLike(p.value)]));
      opt.step(zeros, 0);
      tf.dispose([...zeros.values()]);
      return {
        run: async () => {
          const { value, grads: g } = grads(batch);
          opt.step(new Map(Object.entries(g).map(([n, t]) => [keyOf.get(n)!, t])), 1e-3);
          await value.data();
          tf.dispose([value, ...Object.values(g)]);
        },
        dispose: () => {
          opt.dispose();
          model.dispose();
        },
      };
    },
  };
}

export const train: BenchModule = {
  benchmarks: MODELS.flatMap((m) => [trainCase(m, 8, false), trainCase(m, 32, true)]),
};
