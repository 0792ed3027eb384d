/**
 * Optimizers over vizoo Parameters: AdamW (Loshchilov & Hutter) and SGD with momentum, both with decoupled
 * weight decay (p -= lr * wd * p before the update), per-group learning-rate scale and weight decay.
 * State is kept in tfjs variables and saved under `<param key>.<state name>` for exact resume.
 */
import { tf, type Tensor, type Variable } from '../tf.js';
import type { Parameter } from '../nn/module.js';
import type { HostTensor } from '../hub/host_tensor.js';
import { toFloat32 } from '../hub/host_tensor.js';

export interface ParamGroup {
  params: { key: string; param: Parameter }[];
  weightDecay: number;
  /** Multiplies the scheduled learning rate (layer-wise decay). */
  lrScale: number;
}

export interface OptimizerConfig {
  type: 'adamw' | 'sgd';
  betas?: [number, number];
  eps?: number;
  momentum?: number;
  nesterov?: boolean;
}

export abstract class Optimizer {
  /** Number of updates applied. */
  stepCount = 0;
  protected readonly state = new Map<string, Variable>();

  constructor(readonly groups: ParamGroup[]) {}

  /** Applies one update with learning rate `lr` from gradients keyed by parameter key. */
  step(grads: Map<string, Tensor>, lr: number): void {
    this.stepCount++;
    for (const g of this.groups) {
      const glr = lr * g.lrScale;
      for (const { key, param } of g.params) {
        const grad = grads.get(key);
        if (!grad) continue;
        // One scope per parameter: the update's temporaries are freed before the next parameter's.
        tf.tidy(() => {
          const p = param.value;
          const decayed = g.weightDecay > 0 ? tf.mul(p, 1 - glr * g.weightDecay) : p;
          p.assign(this.update(key, decayed, grad, glr));
        });
      }
    }
  }

  /** Bytes of optimizer state per parameter element once every slot exists (e.g. AdamW: two float32). */
  abstract readonly slotBytesPerElement: number;

  /** Bytes of the optimizer state allocated so far. */
  get stateBytes(): number {
    let n = 0;
    for (const v of this.state.values()) n += v.size * 4;
    return n;
  }

  protected slot(key: string, name: string, like: Tensor): Variable {
    const k = `${key}.${name}`;
    let v = this.state.get(k);
    if (!v) {
      v = tf.variable(tf.zerosLike(like), false);
      this.state.set(k, v);
    }
    return v;
  }

  /** The new value of a parameter (after decoupled decay) given its gradient. */
  protected abstract update(key: string, p: Tensor, grad: Tensor, lr: number): Tensor;

  /** Optimizer state in tfjs layout (it is never read by PyTorch), keyed `<param key>.<slot>`. */
  async stateTensors(): Promise<Map<string, HostTensor>> {
    const out = new Map<string, HostTensor>();
    for (const [k, v] of this.state) out.set(k, { dtype: 'F32', shape: [...v.shape], data: new Float32Array((await v.data()) as Float32Array) });
    return out;
  }

  loadState(tensors: Map<string, HostTensor>, stepCount: number): void {
    this.stepCount = stepCount;
    for (const [k, h] of tensors) {
      const t = tf.tensor(toFloat32(h), h.shape, 'float32');
      const v = this.state.get(k);
      if (v) {
        v.assign(t);
        t.dispose();
      } else this.state.set(k, tf.variable(t, false));
    }
  }

  dispose(): void {
    for (const v of this.state.values()) v.dispose();
    this.state.clear();
  }
}

export class AdamW extends Optimizer {
  readonly slotBytesPerElement = 8;

  constructor(
    groups: ParamGroup[],
    readonly betas: [number, number] = [0.9, 0.999],
    readonly eps = 1e-8,
  ) {
    super(groups);
  }

  protected update(key: string, p: Tensor, grad: Tensor, lr: number): Tensor {
    const [b1, b2] = this.betas;
    const m = this.slot(key, 'exp_avg', p);
    const v = this.slot(key, 'exp_avg_sq', p);
    m.assign(tf.add(tf.mul(m, b1), tf.mul(grad, 1 - b1)));
    v.assign(tf.add(tf.mul(v, b2), tf.mul(tf.square(grad), 1 - b2)));
    const t = this.stepCount;
    const stepSize = lr / (1 - b1 ** t);
    const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(1 - b2 ** t)), this.eps);
    return tf.sub(p, tf.mul(tf.div(m, denom), stepSize));
  }
}

export class SGD extends Optimizer {
  get slotBytesPerElement(): number {
    return this.momentum === 0 ? 0 : 4;
  }

  constructor(
    groups: ParamGroup[],
    readonly momentum = 0.9,
    readonly nesterov = false,
  ) {
    super(groups);
  }

  protected update(key: string, p: Tensor, grad: Tensor, lr: number): Tensor {
    if (this.momentum === 0) return tf.sub(p, tf.mul(grad, lr));
    const buf = this.slot(key, 'momentum_buffer', p);
    // PyTorch: the first step sets buf = grad; later buf = momentum * buf + grad.
    buf.assign(this.stepCount === 1 ? grad : tf.add(tf.mul(buf, this.momentum), grad));
    const dir = this.nesterov ? tf.add(grad, tf.mul(buf, this.momentum)) : buf;
    return tf.sub(p, tf.mul(dir, lr));
  }
}

export function createOptimizer(cfg: OptimizerConfig, groups: ParamGroup[]): Optimizer {
  if (cfg.type === 'adamw') return new AdamW(groups, cfg.betas, cfg.eps);
  if (cfg.type === 'sgd') return new SGD(groups, cfg.momentum ?? 0.9, cfg.nesterov ?? false);
  throw new Error(`unknown optimizer '${(cfg as { type: string }).type}' (adamw, sgd)`);
}

/** Scales gradients so their global L2 norm is at most `maxNorm`; returns the norm before clipping (a scalar tensor). */
export function clipGradNorm(grads: Map<string, Tensor>, maxNorm: number): Tensor {
  return tf.tidy(() => {
    const sq = [...grads.values()].map((g) => tf.sum(tf.square(g)));
    const norm = tf.sqrt(tf.addN(sq));
    const scale = tf.minimum(1, tf.div(maxNorm, tf.add(norm, 1e-6)));
    for (const [k, g] of grads) {
      const c = tf.keep(tf.mul(g, scale));
      g.dispose();
      grads.set(k, c);
    }
    return norm;
  });
}
