/**
 * Multi-threaded tfjs-backend-wasm in Node (VIZOO_WASM_THREADS=n, read when the wasm backend first starts).
 * tfjs ships the threaded SIMD binary but refuses it in Node, for three reasons this shim works around:
 * - its feature test answers false whenever it runs in Node: the flag is set to true instead;
 * - Emscripten's pthread workers are loaded from Blob URLs (the worker script, and the glue as a Blob sent
 *   to each worker), which Node's worker_threads cannot open: while the backend starts, Blobs made of
 *   strings are written to a temporary folder and their "URLs" are those files, and the worker script is
 *   rewritten to load the glue's file;
 * - the C++ side caps the thread count at half of the logical cores it sees (one on a 2-core machine):
 *   while the module starts, os.cpus() reports enough cores for the count asked for.
 * Everything patched is restored once the backend has started (the worker files stay until exit).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { tf } from '../tf.js';

/** The glue's module names inside tfjs-backend-wasm's Node bundle, which the glue's source refers to. */
const GLUE_PRELUDE = "var require$$0 = require('fs'), require$$1 = require('path'), require$$3 = require('perf_hooks'), require$$4 = require('os'), commonjsGlobal = globalThis;\n";
const GLUE_HEAD = 'var WasmBackendModuleThreadedSimd';
/** The worker script's loading of the glue (a string path or a Blob), replaced by one file path. */
const WORKER_LOAD = /if\(typeof e\.data\.urlOrBlob=="string"\)\{importScripts\(e\.data\.urlOrBlob\)\}else\{[^}]*\}/;

/** Threads requested by VIZOO_WASM_THREADS (1 when unset or invalid). */
export function requestedWasmThreads(): number {
  const n = Number(process.env.VIZOO_WASM_THREADS ?? 1);
  return Number.isInteger(n) && n > 1 ? n : 1;
}

/**
 * Starts the wasm backend with `threads` threads (the backend must not have started yet). Returns what
 * `start` returns; the thread count the module actually runs is `getThreadsCount()` of tfjs-backend-wasm.
 */
export async function startThreadedWasm<T>(threads: number, start: () => Promise<T>): Promise<T> {
  const wasm = (await import('@tensorflow/tfjs-backend-wasm')) as unknown as { setThreadsCount(n: number): void };
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  wasm.setThreadsCount(threads);
  const dir = mkdtempSync(join(os.tmpdir(), 'vizoo-wasm-threads-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const NativeBlob = globalThis.Blob;
  const nativeCreate = URL.createObjectURL;
  const realCpus = os.cpus;
  const texts = new WeakMap<Blob, string>();
  let gluePath: string | null = null;
  let files = 0;
  globalThis.Blob = class extends NativeBlob {
    constructor(parts?: BlobPart[], options?: BlobPropertyBag) {
      super(parts, options);
      if (!parts?.every((p) => typeof p === 'string')) return;
      const text = parts.join('');
      texts.set(this, text);
      // The glue is sent to workers as this Blob: keep it as a file they can read.
      if (text.startsWith(GLUE_HEAD)) writeFileSync((gluePath = join(dir, 'glue.js')), GLUE_PRELUDE + text);
    }
  };
  URL.createObjectURL = (blob: Blob) => {
    const text = texts.get(blob);
    if (text === undefined) return nativeCreate(blob);
    const file = join(dir, `blob-${files++}.js`);
    writeFileSync(file, gluePath && WORKER_LOAD.test(text) ? text.replace(WORKER_LOAD, `importScripts(${JSON.stringify(gluePath)});`) : text);
    return file;
  };
  os.cpus = () => {
    const cpus = realCpus();
    return Array.from({ length: Math.max(cpus.length, 2 * threads) }, (_, i) => cpus[i % cpus.length]!);
  };
  try {
    return await start();
  } finally {
    globalThis.Blob = NativeBlob;
    URL.createObjectURL = nativeCreate;
    os.cpus = realCpus;
  }
}
