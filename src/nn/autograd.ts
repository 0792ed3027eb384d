/**
 * Reverse mode over the tfjs tape, freeing as it goes. tfjs's own `variableGrads` keeps every tensor the
 * forward saved, and the gradient of every intermediate, until the whole backward pass ends, so a step
 * peaks at about twice the forward's activations. Here each tape node's saved tensors are released as soon
 * as its gradient has run, the gradient of an intermediate as soon as the node that produced it has
 * consumed it, and the saved tensors of nodes off the loss path before the backward pass starts. The
 * gradient functions and their accumulation order are tfjs's, so the results are the same numbers.
 *
 * This reads the engine's tape (`tf.engine().state.activeTape`), a public field of tfjs-core 4.x whose
 * nodes are `{ id, kernelName, inputs, outputs, saved, gradient }`.
 */
import { tf, type Tensor, type Variable } from '../tf.js';

export type TapeNode = ReturnType<typeof tf.engine>['state']['activeTape'][number];

/** True while ops are being recorded for a gradient (and so would be kept for the backward pass). */
export function isRecording(): boolean {
  const st = tf.engine().state;
  return st.gradientDepth > 0 && st.kernelDepth === 0;
}

/**
 * Kernels whose tfjs gradient reads nothing but the shapes of what it saved (broadcast reductions,
 * reshapes, slices, concatenations, pads). A disposed tensor keeps its shape, so what they save is
 * released as soon as they are recorded; in a convnet, Add and Sub alone would otherwise keep about a
 * third of the saved activations alive (residual branches, normalization centring).
 */
const SHAPE_ONLY_GRADIENTS = new Set(['Add', 'Sub', 'AddN', 'Mean', 'Sum', 'Reshape', 'Slice', 'Concat', 'PadV2']);

/**
 * Runs `f` recording its ops on a tape of its own; a tape being recorded around this call is set aside
 * meanwhile and gets none of them. The caller owns the returned tape (`disposeTape` when done with it).
 */
export function recordTape<T>(f: () => T): { result: T; tape: TapeNode[] } {
  const st = tf.engine().state;
  const outer = st.activeTape;
  const tape: TapeNode[] = [];
  // The engine appends each node as its op runs: the hook frees shape-only saves during the forward.
  tape.push = (...nodes: TapeNode[]) => {
    for (const n of nodes) if (SHAPE_ONLY_GRADIENTS.has(n.kernelName)) for (const t of n.saved ?? []) t.dispose();
    return Array.prototype.push.apply(tape, nodes);
  };
  st.activeTape = tape;
  st.gradientDepth++;
  try {
    return { result: f(), tape };
  } catch (e) {
    disposeTape(tape);
    throw e;
  } finally {
    st.gradientDepth--;
    st.activeTape = outer;
  }
}

/** Releases what the nodes of a tape saved for their gradients. */
export function disposeTape(tape: readonly TapeNode[]): void {
  for (const node of tape) releaseSaved(node);
}

function releaseSaved(node: TapeNode): void {
  for (const t of node.saved ?? []) t.dispose();
  node.saved = [];
}

/**
 * The nodes on a path from one of `xs` to one of `ys`, in tape order, each with its inputs cut to the
 * ones that depend on `xs` (those are the ones that get a gradient).
 */
function nodesBetween(tape: readonly TapeNode[], xs: readonly Tensor[], ys: readonly Tensor[]): PathNode[] {
  const fromX = new Set(xs.map((t) => t.id));
  const nodeFromX = tape.map((n) => {
    if (!Object.values(n.inputs).some((t) => fromX.has(t.id))) return false;
    for (const o of n.outputs) fromX.add(o.id);
    return true;
  });
  const toY = new Set(ys.map((t) => t.id));
  const nodeToY = new Array<boolean>(tape.length).fill(false);
  for (let i = tape.length - 1; i >= 0; i--) {
    const n = tape[i]!;
    if (!n.outputs.some((o) => toY.has(o.id))) continue;
    nodeToY[i] = true;
    for (const t of Object.values(n.inputs)) toY.add(t.id);
  }
  const out: PathNode[] = [];
  tape.forEach((node, i) => {
    if (nodeFromX[i] && nodeToY[i]) out.push({ node, inputs: Object.entries(node.inputs).filter(([, t]) => fromX.has(t.id)) });
  });
  return out;
}

/** A tape node on the gradient path, with the inputs that get a gradient. */
interface PathNode {
  node: TapeNode;
  inputs: [string, Tensor][];
}

/**
 * Backpropagates from `seeds` (tensor id -> gradient) through `path` (from `nodesBetween`), releasing
 * each node's saved tensors and its outputs' gradients once they are used. Returns the gradient of each
 * tensor in `keepIds` (null when none reached it); every other gradient is disposed.
 */
function backpropagate(path: readonly PathNode[], seeds: Map<number, Tensor>, keepIds: ReadonlySet<number>): Map<number, Tensor> {
  const grads = seeds;
  for (let i = path.length - 1; i >= 0; i--) {
    const { node, inputs } = path[i]!;
    if (!node.gradient) throw new Error(`no gradient is registered for the op '${node.kernelName}'`);
    const dys = node.outputs.map((o) => grads.get(o.id) ?? null) as Tensor[];
    const saved = node.saved ?? [];
    const dxs = tf.tidy(() => {
      const fns = node.gradient!(dys);
      const out: Tensor[] = [];
      for (const [n] of inputs) {
        const fn = fns[n];
        if (!fn) throw new Error(`the gradient of '${node.kernelName}' has no entry for its input '${n}'`);
        const dx = fn();
        // Every gradient handle here is disposed on its own: one that is also a dy, a saved tensor or
        // another input's gradient (identity-like gradients) gets a handle of its own.
        out.push(dys.includes(dx) || saved.includes(dx) || out.includes(dx) ? tf.clone(dx) : dx);
      }
      return out;
    });
    releaseSaved(node);
    inputs.forEach(([n, x], j) => {
      const dx = dxs[j]!;
      if (dx.dtype !== 'float32') throw new Error(`the gradient of '${node.kernelName}' for '${n}' is ${dx.dtype}, not float32`);
      const prev = grads.get(x.id);
      if (prev) {
        grads.set(x.id, tf.add(prev, dx));
        prev.dispose();
        dx.dispose();
      } else grads.set(x.id, dx);
    });
    // Every consumer of these outputs came later on the tape, so their gradients are complete and used.
    for (const o of node.outputs) {
      if (keepIds.has(o.id)) continue;
      grads.get(o.id)?.dispose();
      grads.delete(o.id);
    }
  }
  for (const [id, g] of grads) {
    if (!keepIds.has(id)) {
      g.dispose();
      grads.delete(id);
    }
  }
  return grads;
}

/**
 * Gradients of `f`'s outputs with respect to `xs` (null for an x that no output depends on). `f` returns
 * one tensor or several; `dys` seeds each output (default ones; a null seed leaves that output out).
 * Like `tf.grads`, but with the memory released during the backward pass (see the file comment).
 */
export function valueAndGrads(f: () => Tensor | Tensor[], xs: readonly Tensor[], dys?: readonly (Tensor | null)[]): { value: Tensor[]; grads: (Tensor | null)[] } {
  if (isRecording()) throw new Error('valueAndGrads: higher-order gradients are not supported (called while a gradient is being recorded)');
  const { result, tape } = recordTape(() => tf.tidy(f));
  const value = Array.isArray(result) ? result : [result];
  // Integer outputs have no gradient; a null seed leaves its output out.
  const seeded = value.map((y, i) => [y, dys ? (dys[i] ?? null) : undefined] as const).filter(([y, dy]) => y.dtype === 'float32' && dy !== null);
  const ys = seeded.map(([y]) => y);
  const path = nodesBetween(tape, xs, ys);
  const onPath = new Set(path.map((p) => p.node.id));
  // Nodes off the path are never differentiated: free what they saved before the backward pass grows.
  for (const n of tape) if (!onPath.has(n.id)) releaseSaved(n);
  const seeds = new Map<number, Tensor>();
  for (const [y, dy] of seeded) {
    const s = dy ? tf.clone(dy) : tf.onesLike(y);
    const prev = seeds.get(y.id);
    seeds.set(y.id, prev ? tf.add(prev, s) : s);
    if (prev) {
      prev.dispose();
      s.dispose();
    }
  }
  const keep = new Set(xs.map((x) => x.id));
  let grads: Map<number, Tensor>;
  try {
    grads = backpropagate(path, seeds, keep);
  } finally {
    disposeTape(tape);
  }
  return { value, grads: xs.map((x) => grads.get(x.id) ?? null) };
}

/**
 * `tf.variableGrads` with the memory released during the backward pass: the value of the scalar `f` and
 * the gradient of each variable it depends on, keyed by variable name (default: every trainable variable).
 */
export function variableGrads(f: () => tf.Scalar, vars?: Variable[]): { value: tf.Scalar; grads: Record<string, Tensor> } {
  const list = vars ?? Object.values(tf.engine().state.registeredVariables).filter((v) => v.trainable);
  const { value, grads } = valueAndGrads(f, list);
  const named: Record<string, Tensor> = {};
  list.forEach((v, i) => {
    if (grads[i]) named[v.name] = grads[i]!;
  });
  return { value: value[0] as tf.Scalar, grads: named };
}
