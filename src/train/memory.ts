/**
 * Memory of a training step: the peak tensor bytes of a step measured while it runs, the cap of the
 * current backend, and the check `fit` makes before its first step. The wasm backend keeps every tensor
 * in one WebAssembly heap that cannot grow past 4 GiB; a step that needs more ends the process with the
 * engine's `Aborted()`, so the step is sized first: two small probe steps (batch 1 and 2) give the bytes
 * per image and the fixed part, and the full batch is extrapolated from them.
 */
import { tf } from '../tf.js';
import { currentBackend } from '../backend/index.js';

/**
 * The most memory the current backend can hold, or null when it has no fixed cap (tfjs-node and the cpu
 * backend allocate from the process, WebGPU from the device).
 */
export function backendMemoryLimit(): { bytes: number; what: string } | null {
  const name = currentBackend()?.name ?? tf.getBackend();
  // tfjs-backend-wasm 4.x is built with a 4 GiB maximum heap (wasm32 addresses; its getHeapMax()).
  if (name === 'wasm') return { bytes: 4 * 2 ** 30 - 2 ** 16, what: "the wasm backend's 4 GiB heap" };
  return null;
}

/**
 * Allocator overhead on top of the tensor bytes: the wasm heap measured after training steps of van_b0 and
 * unireplknet_a at 224x224 (batch 8 and 32, plain and checkpointed) was 1.5-1.7x the peak tensor bytes (free
 * blocks between tensors of different lifetimes). Steps are refused when their tensors would take more
 * than the cap divided by this.
 */
export const HEAP_OVERHEAD = 1.75;

const meters = new Set<PeakMeter>();

/** Replaces the engine's byte counter by an accessor that reports every change to the running meters. */
function watchBytes(on: boolean): void {
  const st = tf.engine().state;
  const value = st.numBytes;
  if (on) {
    let bytes = value;
    Object.defineProperty(st, 'numBytes', {
      configurable: true,
      enumerable: true,
      get: () => bytes,
      set: (v: number) => {
        bytes = v;
        for (const m of meters) m.saw(v);
      },
    });
  } else {
    delete (st as { numBytes?: number }).numBytes;
    st.numBytes = value;
  }
}

/**
 * The peak of the engine's tensor bytes between `start()` and `stop()`. Every allocation is seen,
 * including the temporaries inside a kernel's gradient (tf.profile samples once per kernel).
 */
export class PeakMeter {
  private peak = 0;

  start(): this {
    this.peak = tf.memory().numBytes;
    if (!meters.size) watchBytes(true);
    meters.add(this);
    return this;
  }

  /** @internal */
  saw(bytes: number): void {
    if (bytes > this.peak) this.peak = bytes;
  }

  /** Ends tracking; returns the peak bytes since `start`. */
  stop(): number {
    if (meters.delete(this) && !meters.size) watchBytes(false);
    return this.peak;
  }
}

/** Bytes of a step as a function of the batch size: fixed + perImage * batch (both measured). */
export interface StepMemoryModel {
  perImage: number;
  fixed: number;
}

/** Fits bytes = fixed + perImage * batch through the peaks of two probe steps (batch 1 and batch 2). */
export function stepMemoryModel(peak1: number, peak2: number): StepMemoryModel {
  const perImage = Math.max(0, peak2 - peak1);
  return { perImage, fixed: Math.max(0, peak1 - perImage) };
}

/** The largest batch whose step fits in `budget` bytes (0 when not even one image does). */
export function largestBatch(m: StepMemoryModel, budget: number): number {
  if (m.perImage <= 0) return budget >= m.fixed ? Infinity : 0;
  return Math.max(0, Math.floor((budget - m.fixed) / m.perImage));
}

const GIB = 2 ** 30;
const MIB = 2 ** 20;
export const formatBytes = (b: number): string => (b >= GIB ? `${(b / GIB).toFixed(1)} GiB` : `${(b / MIB).toFixed(0)} MiB`);

/** A training step that would not fit in the backend's memory, refused before it runs. */
export class TrainingMemoryError extends Error {
  constructor(
    readonly neededBytes: number,
    readonly limitBytes: number,
    readonly batchSize: number,
    readonly largestBatch: number,
    message: string,
  ) {
    super(message);
    this.name = 'TrainingMemoryError';
  }
}

/** How `fit` sized its step: with or without checkpointing, and the estimate against the cap. */
export interface MemoryPlan {
  checkpointing: boolean;
  batchSize: number;
  /** Estimated peak tensor bytes of a step as planned. */
  stepBytes: number;
  /** The same without checkpointing, when it was measured. */
  plainBytes?: number;
  /** Tensor bytes the backend can hold (its cap divided by HEAP_OVERHEAD). */
  budgetBytes: number;
  /** What the cap is, in words. */
  limit: string;
}

export interface StepMemoryInput {
  /** What is trained, for messages: e.g. 'van_b0 on 224x224 images'. */
  what: string;
  batchSize: number;
  mode: boolean | 'auto';
  canCheckpoint: boolean;
  /** Bytes that a step adds on top of the probes' and that do not depend on the batch: tensors already
   * held (weights, EMA, loaded optimizer state), optimizer state still to be allocated, the accumulation buffer. */
  fixedBytes: number;
  /** Bytes per image held outside the step (batches waiting in the loader's queue). */
  queuedBytesPerImage: number;
  /** Peak bytes of one forward/backward at `batch` over what was held before it. */
  probe: (batch: number, checkpointing: boolean) => number;
}

/**
 * Sizes the step on a backend with a memory cap (null elsewhere: nothing is measured). 'auto' takes the
 * plain step when it fits and checkpointing when only that fits; a step that fits neither way is refused
 * with a TrainingMemoryError that says which batch size would fit.
 */
export function planStepMemory(p: StepMemoryInput): MemoryPlan | null {
  const limit = backendMemoryLimit();
  if (!limit) return null;
  const budget = limit.bytes / HEAP_OVERHEAD;
  const measure = (ck: boolean): StepMemoryModel => {
    const m = stepMemoryModel(p.probe(1, ck), p.probe(2, ck));
    return { perImage: m.perImage + p.queuedBytesPerImage, fixed: m.fixed + p.fixedBytes };
  };
  const need = (m: StepMemoryModel) => m.fixed + m.perImage * p.batchSize;
  const plan = (checkpointing: boolean, m: StepMemoryModel, plain?: StepMemoryModel): MemoryPlan => ({
    checkpointing, batchSize: p.batchSize, stepBytes: need(m), plainBytes: plain && need(plain), budgetBytes: budget, limit: limit.what,
  });
  let plain: StepMemoryModel | undefined;
  if (p.mode !== true) {
    plain = measure(false);
    if (need(plain) <= budget) return plan(false, plain);
  }
  let ck: StepMemoryModel | undefined;
  if (p.mode !== false && p.canCheckpoint) {
    ck = measure(true);
    if (need(ck) <= budget) return plan(true, ck, plain);
  }
  const best = ck ?? plain!;
  const fits = largestBatch(best, budget);
  const ways: string[] = [];
  if (!ck && p.canCheckpoint) ways.push('turn on gradient checkpointing (--grad-checkpoint)');
  if (fits >= 1) {
    const accum = Math.ceil(p.batchSize / fits);
    ways.push(`take smaller batches and accumulate their gradients (--batch-size ${Math.ceil(p.batchSize / accum)} --accum-steps ${accum})`);
  }
  ways.push('use a backend without this cap (--backend node, with @tensorflow/tfjs-node installed)');
  throw new TrainingMemoryError(
    need(best),
    budget,
    p.batchSize,
    fits,
    `a training step of ${p.what} at batch ${p.batchSize} needs about ${formatBytes(need(best))} of tensors${ck ? ' even with gradient checkpointing' : ''} ` +
      `(${formatBytes(best.perImage)} per image), more than ${limit.what} holds (about ${formatBytes(budget)} of tensors): ${ways.join(', or ')}`,
  );
}
