/**
 * Batched inference over images: each batch is decoded and preprocessed while the previous one runs through
 * the model; images that cannot be read are reported per item and the rest still run. Pure: the caller
 * says how an item becomes pixels (a file in Node, an ImageBitmap or canvas in the browser).
 */
import { tf, type Tensor, type Tensor4D } from '../tf.js';

export type ItemResult<T, R> = { item: T; value: R } | { item: T; error: Error };

/**
 * Runs `infer` on batches of `items`, each turned by `load` into HWC float32 pixels of `shape` (H, W, C).
 * `infer` gets the (B, H, W, C) batch and returns (or resolves to) a tensor whose first axis is the batch, freeing its own
 * intermediates (it may run elsewhere, e.g. onnxruntime). `read` turns one row of its data into the item's
 * result. `onItem` sees each result in input order.
 */
export async function runImageBatches<T, R>(
  items: T[],
  load: (item: T) => Promise<Float32Array>,
  shape: readonly [number, number, number],
  batchSize: number,
  infer: (x: Tensor4D) => Tensor | Promise<Tensor>,
  read: (row: Float32Array, item: T) => R,
  onItem?: (r: ItemResult<T, R>) => void,
): Promise<ItemResult<T, R>[]> {
  const bs = Math.max(1, batchSize);
  const [h, w, c] = shape;
  const decode = (start: number) => Promise.all(items.slice(start, start + bs).map((item) => load(item).then((data) => ({ item, data }), (error: Error) => ({ item, error }))));
  const results: ItemResult<T, R>[] = [];
  let pending = items.length ? decode(0) : null;
  for (let start = 0; pending; start += bs) {
    const batch = await pending;
    pending = start + bs < items.length ? decode(start + bs) : null;
    const ok = batch.filter((b): b is { item: T; data: Float32Array } => 'data' in b);
    const rows = new Map<T, Float32Array>();
    if (ok.length) {
      const stacked = new Float32Array(ok.length * h * w * c);
      ok.forEach((b, i) => stacked.set(b.data, i * h * w * c));
      const x = tf.tensor4d(stacked, [ok.length, h, w, c]);
      const out = await infer(x);
      const data = (await out.data()) as Float32Array;
      tf.dispose([x, out]);
      const per = data.length / ok.length;
      ok.forEach((b, i) => rows.set(b.item, data.subarray(i * per, (i + 1) * per)));
    }
    for (const b of batch) {
      const r: ItemResult<T, R> = 'error' in b ? { item: b.item, error: b.error } : { item: b.item, value: read(rows.get(b.item)!, b.item) };
      results.push(r);
      onItem?.(r);
    }
  }
  return results;
}
