/**
 * Activation checkpointing (Chen et al., "Training Deep Nets with Sublinear Memory Cost", 2016; PyTorch's
 * torch.utils.checkpoint, timm's `set_grad_checkpointing`). A checkpointed module keeps only its inputs
 * for the backward pass: its forward runs once without keeping its intermediates, and again inside its
 * gradient, where the recomputed block is differentiated with respect to its inputs and to the trainable
 * variables it reads. The replay draws the same random numbers (the global Rng is rewound to where the
 * first run started) and leaves running statistics alone (`isReplaying`), so the gradients are those of
 * the plain forward.
 */
import { tf, type Tensor, type Variable } from '../tf.js';
import type { Module } from './module.js';
import { globalRng } from './random.js';
import { type TapeNode, disposeTape, isRecording, recordTape, valueAndGrads } from './autograd.js';

let replayDepth = 0;

/** True while a forward is replayed (checkpoint recompute, memory probe): modules must not update state. */
export function isReplaying(): boolean {
  return replayDepth > 0;
}

/** Runs `f` as a replay: BatchNorm and other stateful modules leave their running state untouched. */
export function asReplay<T>(f: () => T): T {
  replayDepth++;
  try {
    return f();
  } finally {
    replayDepth--;
  }
}

/** The float tensors of a forward's result (a tensor, an array or an object of them), in a fixed order. */
function floatTensors(r: unknown): Tensor[] {
  if (r instanceof tf.Tensor) return r.dtype === 'float32' ? [r] : [];
  if (Array.isArray(r)) return r.flatMap(floatTensors);
  if (r && typeof r === 'object') return Object.values(r).flatMap(floatTensors);
  return [];
}

/** Ids of every tensor on a path to one of `ys` in `tape`. */
function reachingIds(tape: readonly TapeNode[], ys: readonly Tensor[]): Set<number> {
  const ids = new Set(ys.map((t) => t.id));
  for (let i = tape.length - 1; i >= 0; i--) {
    const n = tape[i]!;
    if (n.outputs.some((o) => ids.has(o.id))) for (const t of Object.values(n.inputs)) ids.add(t.id);
  }
  return ids;
}

/**
 * `forward(...args)`, checkpointed when a gradient is being recorded (plain otherwise). Tensor arguments
 * are the block's inputs; other arguments (sizes, flags) are passed through unchanged to both runs.
 */
export function checkpointed<R>(forward: (...args: unknown[]) => R, args: unknown[]): R {
  if (!isRecording()) return forward(...args);
  const rng = globalRng();
  const rngAtStart = rng.getState();
  const inputs = args.filter((a): a is Tensor => a instanceof tf.Tensor);
  // The first run records a tape of its own only to find which variables the outputs depend on; the
  // tape is dropped straight away, and with it every intermediate. Only clones of the inputs are kept.
  const { result, tape } = recordTape(() => {
    const out = tf.tidy(() => forward(...args) as tf.TensorContainer) as R;
    return { out, saved: inputs.map((t) => tf.keep(tf.clone(t))) };
  });
  const outs = floatTensors(result.out);
  const saved = result.saved;
  const reach = reachingIds(tape, outs);
  const vars = [...new Set(tape.flatMap((n) => Object.values(n.inputs)))].filter((t): t is Variable => t instanceof tf.Variable && t.trainable && reach.has(t.id));
  disposeTape(tape);
  if (outs.some((o) => inputs.includes(o))) throw new Error('checkpointed: a checkpointed module returned its input unchanged (checkpoint the module around it instead)');
  const wrt = inputs.map((t, i) => [t, i] as const).filter(([t]) => t.dtype === 'float32' && reach.has(t.id));
  const nodeInputs = [...wrt.map(([t]) => t), ...vars];

  const gradient = (dys: (Tensor | null)[]) => {
    const leaves = saved.map((t) => tf.clone(t));
    let k = 0;
    const replayArgs = args.map((a) => (a instanceof tf.Tensor ? leaves[k++]! : a));
    const rngNow = rng.getState();
    rng.setState(rngAtStart);
    let grads: (Tensor | null)[];
    try {
      const r = asReplay(() => valueAndGrads(() => floatTensors(forward(...replayArgs)), [...wrt.map(([, i]) => leaves[i]!), ...vars], dys));
      tf.dispose(r.value);
      grads = r.grads;
    } finally {
      rng.setState(rngNow);
      tf.dispose(leaves);
    }
    return Object.fromEntries(nodeInputs.map((t, i) => [`x${i}`, () => grads[i] ?? tf.zeros(t.shape)]));
  };
  const st = tf.engine().state;
  st.activeTape.push({
    id: st.nextTapeNodeId++,
    kernelName: 'vizoo.checkpoint',
    inputs: Object.fromEntries(nodeInputs.map((t, i) => [`x${i}`, t])),
    outputs: outs,
    saved,
    gradient: gradient as TapeNode['gradient'],
  });
  return result.out;
}

type Forward = (...args: unknown[]) => unknown;
/** A checkpointed module's own forward, and whether it was an instance property (else its class's method). */
const plainForwards = new WeakMap<Module, { forward: Forward; own: boolean }>();

/**
 * Turns checkpointing of `modules` on or off: each one's `forward` is wrapped by `checkpointed` (or its
 * own again). Modules that are already in the asked state are left alone.
 */
export function setCheckpointing(modules: Iterable<Module>, enable: boolean): void {
  for (const m of modules) {
    const target = m as unknown as { forward: Forward };
    const plain = plainForwards.get(m);
    if (enable && !plain) {
      const forward = target.forward;
      plainForwards.set(m, { forward, own: Object.hasOwn(m, 'forward') });
      target.forward = (...args: unknown[]) => checkpointed((...a: unknown[]) => forward.apply(m, a), args);
    } else if (!enable && plain) {
      if (plain.own) target.forward = plain.forward;
      else delete (target as { forward?: Forward }).forward;
      plainForwards.delete(m);
    }
  }
}

/** Whether `m`'s forward is checkpointed. */
export function isCheckpointed(m: Module): boolean {
  return plainForwards.has(m);
}
