/**
 * Running models in onnxruntime-node: any ONNX classifier or segmenter (vizoo's exports carry their
 * preprocessing in metadata; others take it from a named vizoo model or ImageNet defaults), and vizoo
 * models exported once and cached (`--runtime ort`): the export is keyed by model, weights sha256,
 * export options and input size, and written atomically under $VIZOO_CACHE/onnx. Sessions run on the CPU
 * provider or on onnxruntime-node's bundled WebGPU provider (`device: 'webgpu'`: Dawn on Vulkan, so a GPU
 * without a CUDA install; SwiftShader with VK_ICD_FILENAMES on machines without one).
 *
 * onnxruntime-node is loaded here only, on first use (`loadOrt`), so vizoo works without it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { tf, type Tensor } from '../tf.js';
import type { Backbone } from '../models/backbone.js';
import { type PretrainedConfig, getModelEntry } from '../models/registry.js';
import { cacheDir, sha256File } from '../hub/cache.js';
import { readOnnxMetadata } from '../hub/weight_files.js';
import { exportOnnxFile, type ExportOptions, type ExportOutput } from './export.js';
import { MissingPackageError, importPackage } from '../util/optional.js';

/** The ImageNet preprocessing assumed for foreign ONNX classifiers that name no vizoo model. */
export const IMAGENET_DEFAULT: PretrainedConfig = {
  inputSize: [3, 224, 224],
  cropPct: 0.875,
  interpolation: 'bicubic',
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
  numClasses: 1000,
  labels: 'imagenet-1k',
};

// What vizoo uses of onnxruntime-node, declared here so that vizoo's own types do not need the package.
export interface OrtTensor {
  readonly type?: string;
  readonly data: unknown;
  readonly dims: readonly number[];
}
export interface OrtValueMetadata {
  readonly name: string;
  readonly shape?: readonly (number | string)[];
}
export interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata?: readonly OrtValueMetadata[];
  readonly outputMetadata?: readonly OrtValueMetadata[];
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
export interface Ort {
  InferenceSession: { create(model: string | Uint8Array, options?: Record<string, unknown>): Promise<OrtSession> };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => OrtTensor;
  listSupportedBackends(): { name: string }[];
}

let ortLoading: Promise<Ort> | null = null;

/** onnxruntime-node, imported on first use; a one-line error naming the package when it is not installed. */
export function loadOrt(): Promise<Ort> {
  ortLoading ??= importPackage<{ default?: Ort } & Ort>('onnxruntime-node', 'running models in onnxruntime (--onnx, --runtime ort)', 'npm install onnxruntime-node (offline: ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node)').then(
    (m) => m.default ?? m,
    (e: unknown) => {
      ortLoading = null;
      throw e;
    },
  );
  return ortLoading;
}

/** Where a model runs: tfjs (vizoo's own modules), onnxruntime (a cached ONNX export), or `auto`: onnxruntime when installed. */
export type RuntimeChoice = 'auto' | 'tfjs' | 'ort';
export const RUNTIMES: readonly RuntimeChoice[] = ['auto', 'tfjs', 'ort'];

/** The runtime a choice resolves to; `ort` asked for explicitly without onnxruntime-node is an error naming it. */
export async function resolveRuntime(choice: RuntimeChoice | string = 'auto'): Promise<'tfjs' | 'ort'> {
  if (!(RUNTIMES as readonly string[]).includes(choice)) throw new Error(`unknown runtime '${choice}': choose one of ${RUNTIMES.join(', ')}`);
  if (choice === 'tfjs') return 'tfjs';
  try {
    await loadOrt();
    return 'ort';
  } catch (e) {
    if (choice === 'auto' && e instanceof MissingPackageError) return 'tfjs';
    throw e;
  }
}

/** Where onnxruntime runs a model: its CPU provider, or its bundled WebGPU provider. */
export type OrtDevice = 'cpu' | 'webgpu';
export const ORT_DEVICES: readonly OrtDevice[] = ['cpu', 'webgpu'];

export interface OrtSessionOptions {
  /** Intra-op threads of the CPU provider (default: onnxruntime's choice). */
  threads?: number;
  /** Execution provider (default 'cpu'). */
  device?: OrtDevice;
}

function sessionOptions(o: OrtSessionOptions = {}): Record<string, unknown> {
  return {
    logSeverityLevel: 3,
    graphOptimizationLevel: 'all',
    executionProviders: [o.device ?? 'cpu'],
    ...(o.threads ? { intraOpNumThreads: o.threads } : {}),
  };
}

/**
 * An onnxruntime session for a model file or bytes on `o.device`. WebGPU problems (no provider in this
 * build, no adapter) are one-line errors in vizoo's words.
 */
export async function createOrtSession(model: string | Uint8Array, o: OrtSessionOptions = {}): Promise<OrtSession> {
  const ort = await loadOrt();
  const device = o.device ?? 'cpu';
  if (!ORT_DEVICES.includes(device)) throw new Error(`onnxruntime device '${String(device)}' is not one of ${ORT_DEVICES.join(', ')}`);
  if (device === 'webgpu' && !ort.listSupportedBackends().some((b) => b.name === 'webgpu')) {
    throw new Error('this onnxruntime-node build has no WebGPU execution provider (it ships one on Linux x64, Windows and macOS)');
  }
  try {
    return typeof model === 'string' ? await ort.InferenceSession.create(model, sessionOptions(o)) : await ort.InferenceSession.create(model, sessionOptions(o));
  } catch (e) {
    const msg = (e as Error).message ?? '';
    if (device === 'webgpu' && /adapter/i.test(msg)) {
      throw new Error('onnxruntime WebGPU: no GPU adapter found (Vulkan driver missing; for a software adapter set VK_ICD_FILENAMES to SwiftShader\'s ICD, e.g. /usr/lib/chromium/vk_swiftshader_icd.json)');
    }
    throw e;
  }
}

/** Runs `x` (NCHW, float32) through a session; returns every output. */
export async function runSession(session: OrtSession, x: Float32Array, shape: number[], inputName = session.inputNames[0]!): Promise<Map<string, { data: Float32Array; shape: number[] }>> {
  const ort = await loadOrt();
  const out = await session.run({ [inputName]: new ort.Tensor('float32', x, shape) });
  const res = new Map<string, { data: Float32Array; shape: number[] }>();
  for (const name of session.outputNames) {
    const t = out[name]!;
    if (t.type !== 'float32') throw new Error(`ONNX output '${name}' is ${t.type}; vizoo reads float32 outputs`);
    res.set(name, { data: t.data as Float32Array, shape: t.dims.map(Number) });
  }
  return res;
}

/**
 * A model running in onnxruntime with the interface vizoo's pipelines use: NHWC tensors in, logits (or an
 * NHWC logit map) out, through `forwardAsync` (onnxruntime is asynchronous; `forward` is unavailable).
 */
export class OrtModel {
  training = false;
  readonly runtime = 'ort';

  constructor(
    readonly session: OrtSession,
    readonly pretrainedCfg: PretrainedConfig,
    readonly numClasses: number,
    readonly variant: string,
    readonly file: string,
  ) {}

  /** The batch size the graph was exported with, or null for a dynamic batch. */
  get fixedBatch(): number | null {
    const d = this.session.inputMetadata?.[0]?.shape?.[0];
    return typeof d === 'number' && d > 0 ? d : null;
  }

  /**
   * Runs an NCHW float batch through the session, in pieces of the graph's fixed batch when it has one
   * (the last piece zero-padded): every output keeps the caller's batch size.
   */
  async runBatched(x: Float32Array, shape: number[]): Promise<Map<string, { data: Float32Array; shape: number[] }>> {
    const fixed = this.fixedBatch;
    const n = shape[0]!;
    if (!fixed || fixed === n) return runSession(this.session, x, shape);
    const per = x.length / n;
    const parts: Map<string, { data: Float32Array; shape: number[] }>[] = [];
    for (let i = 0; i < n; i += fixed) {
      const piece = new Float32Array(fixed * per);
      piece.set(x.subarray(i * per, Math.min(n, i + fixed) * per));
      parts.push(await runSession(this.session, piece, [fixed, ...shape.slice(1)]));
    }
    const out = new Map<string, { data: Float32Array; shape: number[] }>();
    for (const name of parts[0]!.keys()) {
      const first = parts[0]!.get(name)!;
      const rowLen = first.data.length / fixed;
      const data = new Float32Array(n * rowLen);
      parts.forEach((p, k) => data.set(p.get(name)!.data.subarray(0, Math.min(fixed, n - k * fixed) * rowLen), k * fixed * rowLen));
      out.set(name, { data, shape: [n, ...first.shape.slice(1)] });
    }
    return out;
  }

  /** Opens an ONNX file. Preprocessing: the file's vizoo metadata, else `model`'s registered config, else ImageNet defaults. */
  static async open(path: string, o: OrtSessionOptions & { model?: string; numClasses?: number } = {}): Promise<OrtModel> {
    const meta = readOnnxMetadata(path);
    let cfg: PretrainedConfig;
    if (o.model) cfg = getModelEntry(o.model).pretrainedCfg;
    else if (meta.vizoo_config) cfg = JSON.parse(meta.vizoo_config) as PretrainedConfig;
    else cfg = IMAGENET_DEFAULT;
    const session = await createOrtSession(path, o);
    const dims = session.inputMetadata?.[0]?.shape ?? [];
    // A fixed-size graph decides the input size.
    if (dims.length === 4 && typeof dims[2] === 'number' && typeof dims[3] === 'number' && dims[2] > 0) {
      cfg = { ...cfg, inputSize: [typeof dims[1] === 'number' ? dims[1] : cfg.inputSize[0], dims[2], dims[3]] };
    }
    const outDims = session.outputMetadata?.[0]?.shape ?? [];
    const classes = o.numClasses ?? (typeof outDims[1] === 'number' && outDims[1] > 0 ? outDims[1] : cfg.numClasses);
    return new OrtModel(session, { ...cfg, numClasses: classes }, classes, o.model ?? meta.vizoo_model ?? '', path);
  }

  eval(): this {
    return this;
  }

  train(): this {
    return this;
  }

  forward(): Tensor {
    throw new Error('the onnxruntime model runs asynchronously: use forwardAsync');
  }

  /** NHWC input -> logits (B, classes) or an NHWC logit map. */
  async forwardAsync(x: Tensor): Promise<Tensor> {
    const nchw = x.rank === 4 ? tf.transpose(x, [0, 3, 1, 2]) : x;
    const data = (await nchw.data()) as Float32Array;
    const shape = [...nchw.shape];
    if (nchw !== x) nchw.dispose();
    const out = await this.runBatched(data, shape);
    const first = out.get(this.session.outputNames[0]!)!;
    const y = tf.tensor(first.data, first.shape, 'float32');
    if (y.rank !== 4) return y;
    const nhwc = tf.transpose(y, [0, 2, 3, 1]);
    y.dispose();
    return nhwc;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

export interface OrtRuntimeOptions extends OrtSessionOptions {
  /** The weights file the model was loaded from (its sha256 keys the cache); null for random init. */
  weightsFile?: string | null;
  /** Input (height, width) to export at (default: the pretrained config's). */
  inputSize?: [number, number];
  /** Seed of a random init (keys the cache when there are no weights). */
  seed?: number;
  opset?: number;
  /** Cache folder (default $VIZOO_CACHE/onnx). */
  dir?: string;
  /** Called when an export is written (not when the cache has it). */
  onExport?: (path: string) => void;
  /** What the export outputs (default the forward; 'hash': a hashing model's continuous hash). */
  output?: ExportOutput;
}

const weightsHashes = new Map<string, string>();

/** The cache path of a model's ONNX export for these options. */
export function ortCachePath(model: Backbone, o: OrtRuntimeOptions & ExportOptions): string {
  const cfg = model.pretrainedCfg;
  const size = o.inputSize ?? [cfg.inputSize[1], cfg.inputSize[2]];
  let weights = `random:${o.seed ?? 0}`;
  if (o.weightsFile) {
    if (!weightsHashes.has(o.weightsFile)) weightsHashes.set(o.weightsFile, sha256File(o.weightsFile));
    weights = weightsHashes.get(o.weightsFile)!;
  }
  // `built`: the input size the model was built for (imgSize), which sets its position-embedding grid.
  // v3: exporter graphs of 2026-12 (channels-last MatMul + BiasGelu for map MLPs); 'output' since the hash export.
  const key = JSON.stringify({ v: 3, model: model.variant, weights, classes: model.numClasses, chans: cfg.inputSize[0], built: cfg.inputSize.slice(1), size, opset: o.opset ?? 17, dynamic: true, output: o.output ?? 'forward' });
  const h = createHash('sha256').update(key).digest('hex').slice(0, 16);
  return join(o.dir ?? cacheDir('onnx'), `${model.variant || 'model'}-${h}.onnx`);
}

/** `model` as an OrtModel: exported (dynamic batch) on first use, then taken from the cache. */
export async function ortModelFor(model: Backbone, o: OrtRuntimeOptions = {}): Promise<OrtModel> {
  const path = ortCachePath(model, o);
  if (!existsSync(path)) {
    await exportOnnxFile(model, path, { dynamicBatch: true, inputSize: o.inputSize, opset: o.opset, output: o.output });
    o.onExport?.(path);
  }
  const session = await createOrtSession(path, o);
  return new OrtModel(session, model.pretrainedCfg, model.numClasses, model.variant, path);
}
