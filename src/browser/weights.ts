/**
 * Weights in the browser: from a URL (streamed with progress, checked against a sha256 with Web Crypto,
 * kept in the Cache Storage API), an `hf:org/repo/file` spec, or bytes the page already has. The bytes are
 * parsed by the same pure readers as in Node (safetensors, PyTorch checkpoints, ONNX initializers) and
 * loaded with the same key maps and deploy re-parameterization.
 */
import { createModel, type ModelOptions } from '../models/registry.js';
import type { Backbone } from '../models/backbone.js';
import { hfUrl } from '../hub/sources.js';
import { type LoadWeightsOptions, loadStateDictInto, modelInfoFromMetadata, readWeightsBytes, readWeightsMetadata } from '../hub/weights.js';
import { applyRecordedConfig, createForWeights } from '../hub/recorded_config.js';

export interface FetchWeightsOptions {
  /** Expected sha256 (hex) of the bytes; a mismatch is an error and nothing is cached. */
  sha256?: string;
  /** Called as bytes arrive (`total` when the server says it). */
  onProgress?: (loaded: number, total: number | null) => void;
  /** Cache Storage name (default 'vizoo-weights'); false: neither read nor write the cache. */
  cache?: string | false;
  /** The hub endpoint of `hf:` specs (default https://huggingface.co). */
  hfEndpoint?: string;
}

export class WeightsFetchError extends Error {
  constructor(
    readonly url: string,
    problem: string,
  ) {
    super(`${url}: ${problem}`);
    this.name = 'WeightsFetchError';
  }
}

/** The URL a weights spec names: `hf:org/repo/file` on the hub, anything else as given. */
export function weightsUrl(spec: string, hfEndpoint?: string): string {
  return spec.startsWith('hf:') ? hfUrl(spec, hfEndpoint) : spec;
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

async function readBody(res: Response, url: string, onProgress?: FetchWeightsOptions['onProgress']): Promise<Uint8Array> {
  const total = Number(res.headers.get('content-length')) || null;
  if (!res.body) return new Uint8Array(await res.arrayBuffer());
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    onProgress?.(loaded, total);
  }
  if (total !== null && loaded !== total) throw new WeightsFetchError(url, `transfer ended after ${loaded} of ${total} bytes`);
  const out = new Uint8Array(loaded);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** The bytes of a weights URL or `hf:` spec, from the cache when it has them. */
export async function fetchWeights(spec: string, opts: FetchWeightsOptions = {}): Promise<Uint8Array> {
  const url = weightsUrl(spec, opts.hfEndpoint);
  const cache = opts.cache !== false && typeof caches !== 'undefined' ? await caches.open(opts.cache || 'vizoo-weights').catch(() => null) : null;
  const hit = await cache?.match(url);
  if (hit) {
    const bytes = new Uint8Array(await hit.arrayBuffer());
    if (!opts.sha256 || (await sha256Hex(bytes)) === opts.sha256.toLowerCase()) {
      opts.onProgress?.(bytes.length, bytes.length);
      return bytes;
    }
    await cache!.delete(url);
  }
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new WeightsFetchError(url, `cannot fetch (${(e as Error).message}); a server of another origin must allow CORS`);
  }
  if (!res.ok) throw new WeightsFetchError(url, `HTTP ${res.status} ${res.statusText}`);
  const bytes = await readBody(res, url, opts.onProgress);
  if (opts.sha256) {
    const got = await sha256Hex(bytes);
    if (got !== opts.sha256.toLowerCase()) throw new WeightsFetchError(url, `sha256 mismatch: expected ${opts.sha256}, got ${got}`);
  }
  await cache?.put(url, new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { 'content-type': 'application/octet-stream' } })).catch(() => undefined);
  return bytes;
}

export interface BrowserLoadModelOptions extends ModelOptions, FetchWeightsOptions, LoadWeightsOptions {
  /**
   * A URL, an `hf:` spec, or the bytes of a weights file (safetensors, PyTorch .pth/.bin, ONNX);
   * null or absent: the seeded random initialization.
   */
  weights?: string | ArrayBuffer | Uint8Array | null;
  /** How the bytes are named in errors and which reader they get (by extension); default: the URL. */
  weightsName?: string;
}

/** A model ready for inference in the browser: weights loaded, eval mode. */
export async function loadModel(name: string, opts: BrowserLoadModelOptions = {}): Promise<Backbone> {
  const w = opts.weights;
  if (w == null) return createModel(name, { ...opts, init: false }).initialize(opts.seed ?? 0).eval();
  const bytes = typeof w === 'string' ? await fetchWeights(w, opts) : w instanceof Uint8Array ? w : new Uint8Array(w);
  const file = opts.weightsName ?? (typeof w === 'string' ? weightsUrl(w, opts.hfEndpoint).split('?')[0]! : 'weights.safetensors');
  const { model, trained } = createForWeights(name, opts, modelInfoFromMetadata(readWeightsMetadata(bytes, file), file).trained);
  loadStateDictInto(model, readWeightsBytes(bytes, file, opts), { strict: opts.strict ?? true, keyMap: opts.keyMap }, file);
  applyRecordedConfig(model, trained);
  return model.initialize(opts.seed ?? 0).eval();
}
