/**
 * Hash-based image retrieval with a model that has a hash head (EET): binary codes for images, Hamming-ranked
 * retrieval, and mAP@k on labelled folders. Codes are sign(hash) as in EET's evaluation (`train_model.py`,
 * `utils.calc_map_k`); a code is stored as a string of '1' (positive) and '0' (negative) bits.
 */
import { tf, type Tensor, type Tensor4D } from '../tf.js';
import type { Backbone } from '../models/backbone.js';
import { type HashingModel, isHashingModel } from '../models/eet.js';
import { type EvalTransform, evalTransformFor } from '../data/transforms.js';
import { type ItemResult, runImageBatches } from './image_batches.js';

export interface LabelledImage {
  file: string;
  /** Class name (the image's folder under the root), or null for images directly in the root or given alone. */
  label: string | null;
}

export interface CodeEntry {
  file: string;
  label: string | null;
  /** '1'/'0' per bit: sign of the continuous hash. */
  code: string;
}

export type EmbedResult = CodeEntry | { file: string; label: string | null; error: string };

export interface EmbedOptions {
  batchSize?: number;
  onImage?: (r: EmbedResult) => void;
  /**
   * Computes the continuous hash of an NHWC batch somewhere else (the CLI's onnxruntime session of the
   * model's hash export); default: the model's own forwardHash.
   */
  hash?: (x: Tensor4D) => Promise<Tensor>;
}

function requireHashing(model: Backbone): HashingModel & Backbone {
  if (!isHashingModel(model)) throw new Error(`model '${model.variant || model.constructor.name}' has no hash head (use an EET model, e.g. eet_vit_small_cub_16bit)`);
  return model;
}

/** sign(hash) as a bit string (exact zeros, a measure-zero case, count as negative). */
export function codeFromHash(hash: ArrayLike<number>): string {
  let s = '';
  for (let i = 0; i < hash.length; i++) s += hash[i]! > 0 ? '1' : '0';
  return s;
}

/**
 * Hash codes of images with the model's eval preprocessing (`load` as in `classifyWith`). Undecodable images
 * become error entries.
 */
export async function embedWith(model: Backbone, images: LabelledImage[], load: (image: LabelledImage, t: EvalTransform) => Promise<Float32Array>, opts: EmbedOptions = {}): Promise<EmbedResult[]> {
  const m = requireHashing(model);
  const t = evalTransformFor(m.pretrainedCfg);
  m.eval();
  const toResult = (r: ItemResult<LabelledImage, string>): EmbedResult =>
    'error' in r ? { file: r.item.file, label: r.item.label, error: r.error.message } : { file: r.item.file, label: r.item.label, code: r.value };
  const rs = await runImageBatches(
    images,
    (im) => load(im, t),
    [t.size[0], t.size[1], t.channels],
    opts.batchSize ?? 8,
    opts.hash ?? ((x) => tf.tidy(() => m.forwardHash(x).hash)),
    (row) => codeFromHash(row),
    opts.onImage && ((r) => opts.onImage!(toResult(r))),
  );
  return rs.map(toResult);
}

export function hammingDistance(a: string, b: string): number {
  if (a.length !== b.length) throw new Error(`codes of different lengths (${a.length} and ${b.length} bits)`);
  let d = 0;
  for (let i = 0; i < a.length; i++) if (a.charCodeAt(i) !== b.charCodeAt(i)) d++;
  return d;
}

export interface Ranked {
  index: number;
  distance: number;
}

/** Database entries by increasing Hamming distance to `query`; ties keep database order (stable). */
export function hammingRank(query: string, database: readonly { code: string }[]): Ranked[] {
  return database.map((e, index) => ({ index, distance: hammingDistance(query, e.code) })).sort((x, y) => x.distance - y.distance || x.index - y.index);
}

/**
 * mAP@k as EET's `calc_map_k`: per query with at least one relevant (same-label) database item, rank the
 * database by Hamming distance, take the 1-based ranks r_1 < r_2 < ... of the first min(k, #relevant)
 * relevant items and average i / r_i; queries without relevant items count as 0 in the mean over all
 * queries. `k` undefined means the whole database. `exclude(q, d)` removes pairs (leave-one-out).
 */
export function meanAveragePrecision(queries: readonly CodeEntry[], database: readonly CodeEntry[], k?: number, exclude?: (q: number, d: number) => boolean): number {
  if (!queries.length) throw new Error('mAP: no queries');
  let total = 0;
  queries.forEach((q, qi) => {
    const db = database.map((e, di) => ({ e, di })).filter(({ di }) => !exclude?.(qi, di));
    const relevant = db.filter(({ e }) => e.label !== null && e.label === q.label).length;
    if (!relevant) return;
    const ranking = hammingRank(q.code, db.map(({ e }) => e));
    const take = Math.min(k ?? db.length, relevant);
    let found = 0;
    let sum = 0;
    for (let r = 0; r < ranking.length && found < take; r++) {
      if (db[ranking[r]!.index]!.e.label === q.label) {
        found++;
        sum += found / (r + 1);
      }
    }
    total += sum / take;
  });
  return total / queries.length;
}

export interface RetrievalHit {
  file: string;
  label: string | null;
  distance: number;
}

export type RetrieveResult = { file: string; label: string | null; results: RetrievalHit[] } | { file: string; label: string | null; error: string };

/** The `topK` nearest database entries of each query (query files themselves are skipped in the database). */
export function rankDatabase(queries: readonly EmbedResult[], database: readonly CodeEntry[], topK = 10): RetrieveResult[] {
  return queries.map((q) => {
    if ('error' in q) return q;
    const db = database.filter((e) => e.file !== q.file);
    const hits = hammingRank(q.code, db)
      .slice(0, topK)
      .map(({ index, distance }) => ({ file: db[index]!.file, label: db[index]!.label, distance }));
    return { file: q.file, label: q.label, results: hits };
  });
}

/** A saved code file (`vizoo embed -o`). */
export interface CodeFile {
  model: string;
  bits: number;
  items: CodeEntry[];
}

export function parseCodeFile(text: string, path: string): CodeFile {
  let v: CodeFile;
  try {
    v = JSON.parse(text) as CodeFile;
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(v.items) || typeof v.bits !== 'number') throw new Error(`${path}: not a vizoo code file (needs "bits" and "items")`);
  for (const it of v.items) if (typeof it.code !== 'string' || it.code.length !== v.bits) throw new Error(`${path}: entry ${it.file} has no ${v.bits}-bit code`);
  return v;
}
