/**
 * Batching: a deterministic epoch order (shuffled by Rng(seed, epoch)), per-sample augmentation from
 * Rng(seed, epoch:index) so results do not depend on decode timing, a prefetch queue so decoding of the
 * next batches overlaps compute, and corrupt samples skipped with a warning and counted.
 */
import { tf } from '../tf.js';
import { Rng } from '../nn/rng.js';
import { CorruptSampleError, type Dataset } from './dataset.js';

export interface Prepared {
  x: Float32Array;
  /** Class index, or a mask of H*W class indices for segmentation. */
  y: number | Uint8Array;
}

export interface Batch {
  /** (B, H, W, C) float32. */
  x: tf.Tensor4D;
  /** (B) int32 labels or (B, H, W) int32 masks. */
  y: tf.Tensor;
  /** Dataset indices in the batch (corrupt ones dropped). */
  indices: number[];
}

export interface LoaderOptions {
  batchSize: number;
  shuffle?: boolean;
  seed?: number;
  dropLast?: boolean;
  prefetch?: number;
  /** Output (H, W, C) of `prepare`. */
  shape: [number, number, number];
  prepare: (ds: Dataset, index: number, rng: Rng) => Promise<Prepared>;
  onSkip?: (source: string, message: string) => void;
}

export class DataLoader {
  /** Every sample skipped so far: source and reason. */
  readonly skipped: { source: string; message: string }[] = [];

  constructor(
    readonly dataset: Dataset,
    readonly opts: LoaderOptions,
  ) {
    if (dataset.length === 0) throw new Error(`${dataset.name}: the dataset is empty`);
  }

  get stepsPerEpoch(): number {
    const n = this.dataset.length / this.opts.batchSize;
    return Math.max(1, this.opts.dropLast ? Math.floor(n) : Math.ceil(n));
  }

  /** The sample order of an epoch. */
  order(epoch: number): number[] {
    const idx = Array.from({ length: this.dataset.length }, (_, i) => i);
    return this.opts.shuffle ? new Rng(this.opts.seed ?? 0).derivedShuffle(idx, `epoch:${epoch}`) : idx;
  }

  private async prepareBatch(epoch: number, indices: number[]): Promise<Batch | null> {
    const seed = this.opts.seed ?? 0;
    const results = await Promise.all(
      indices.map(async (i) => {
        try {
          return { i, p: await this.opts.prepare(this.dataset, i, Rng.derive(seed, `${epoch}:${i}`)) };
        } catch (e) {
          if (!(e instanceof CorruptSampleError)) throw e;
          return { i, err: e };
        }
      }),
    );
    const ok: { i: number; p: Prepared }[] = [];
    for (const r of results) {
      if ('p' in r) ok.push(r as { i: number; p: Prepared });
      else {
        const msg = (r.err as Error).message;
        this.skipped.push({ source: this.dataset.source(r.i), message: msg });
        this.opts.onSkip?.(this.dataset.source(r.i), msg);
      }
    }
    if (!ok.length) return null;
    const [h, w, c] = this.opts.shape;
    const x = new Float32Array(ok.length * h * w * c);
    ok.forEach((r, k) => x.set(r.p.x, k * h * w * c));
    const first = ok[0]!.p.y;
    let y: tf.Tensor;
    if (typeof first === 'number') y = tf.tensor1d(ok.map((r) => r.p.y as number), 'int32');
    else {
      const m = new Int32Array(ok.length * h * w);
      ok.forEach((r, k) => m.set(r.p.y as Uint8Array, k * h * w));
      y = tf.tensor3d(m, [ok.length, h, w], 'int32');
    }
    return { x: tf.tensor4d(x, [ok.length, h, w, c]), y, indices: ok.map((r) => r.i) };
  }

  /** Batches of `epoch` from step `start` on; the caller disposes each batch's tensors. */
  async *epoch(epoch: number, start = 0): AsyncGenerator<Batch> {
    const order = this.order(epoch);
    const bs = this.opts.batchSize;
    const steps = this.stepsPerEpoch;
    const depth = Math.max(1, this.opts.prefetch ?? 2);
    const queue: Promise<Batch | null>[] = [];
    let next = start;
    const fill = () => {
      while (queue.length < depth && next < steps) {
        const idx = order.slice(next * bs, (next + 1) * bs);
        queue.push(this.prepareBatch(epoch, idx));
        next++;
      }
    };
    fill();
    while (queue.length) {
      const b = await queue.shift()!;
      fill();
      if (b) yield b;
    }
  }
}
