/** Exponential moving average of a model's state (timm ModelEmaV2): ema = decay * ema + (1 - decay) * value. */
import { tf, type Variable } from '../tf.js';
import type { Module, Parameter } from '../nn/module.js';
import { type HostTensor, toFloat32 } from '../hub/host_tensor.js';

export class ModelEma {
  private readonly shadow = new Map<string, Variable>();
  private readonly entries: [string, Parameter][];

  constructor(
    readonly model: Module,
    readonly decay = 0.9998,
  ) {
    this.entries = model.stateEntries();
    for (const [k, p] of this.entries) this.shadow.set(k, tf.variable(p.value.clone(), false));
  }

  update(): void {
    tf.tidy(() => {
      for (const [k, p] of this.entries) {
        const s = this.shadow.get(k)!;
        // Integer buffers (num_batches_tracked) are copied, not averaged.
        s.assign(p.dtype === 'int64' ? p.value : tf.add(tf.mul(s, this.decay), tf.mul(p.value, 1 - this.decay)));
      }
    });
  }

  /** Runs `fn` with the EMA weights swapped into the model, then restores them. */
  async withWeights<T>(fn: () => Promise<T>): Promise<T> {
    const saved = new Map(this.entries.map(([k, p]) => [k, p.value.clone()]));
    for (const [k, p] of this.entries) p.assignTf(this.shadow.get(k)!);
    try {
      return await fn();
    } finally {
      for (const [k, p] of this.entries) {
        p.assignTf(saved.get(k)!);
        saved.get(k)!.dispose();
      }
    }
  }

  /** EMA state in tfjs layout, keyed by the model's state keys. */
  async stateTensors(): Promise<Map<string, HostTensor>> {
    const out = new Map<string, HostTensor>();
    for (const [k, v] of this.shadow) {
      const d = await v.data();
      out.set(k, v.dtype === 'int32' ? { dtype: 'I32', shape: [...v.shape], data: new Int32Array(d as Int32Array) } : { dtype: 'F32', shape: [...v.shape], data: new Float32Array(d as Float32Array) });
    }
    return out;
  }

  loadState(tensors: Map<string, HostTensor>): void {
    for (const [k, h] of tensors) {
      const v = this.shadow.get(k);
      if (!v) continue;
      const t = h.dtype === 'I32' ? tf.tensor(h.data as Int32Array, h.shape, 'int32') : tf.tensor(toFloat32(h), h.shape, 'float32');
      v.assign(t);
      t.dispose();
    }
  }

  dispose(): void {
    for (const v of this.shadow.values()) v.dispose();
  }
}
