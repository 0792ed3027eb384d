/**
 * Training checkpoints: a folder per save (model.safetensors with the official keys, trainer.safetensors with
 * optimizer and EMA tensors and the trainer state as JSON metadata), written under a temporary name and
 * renamed into place; then `checkpoint.json` (written atomically) points at it. A crash at any moment leaves
 * the previous checkpoint intact.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Module } from '../nn/module.js';
import type { HostTensor, StateDict } from '../hub/host_tensor.js';
import { loadWeights, readSafetensors, saveWeights, writeSafetensors } from '../hub/weight_files.js';
import { atomicWriteFile } from '../util/fs.js';

export interface CheckpointPointer {
  latest: string;
  step: number;
  epoch: number;
}

export interface TrainerTensors {
  optimizer: Map<string, HostTensor>;
  ema?: Map<string, HostTensor>;
}

export async function saveCheckpoint(outDir: string, name: string, model: Module, tensors: TrainerTensors, state: Record<string, unknown>, keep = 2): Promise<string> {
  const root = join(outDir, 'checkpoints');
  mkdirSync(root, { recursive: true });
  const tmp = join(root, `.tmp-${name}-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  await saveWeights(model, join(tmp, 'model.safetensors'));
  const all: StateDict = new Map();
  for (const [k, v] of tensors.optimizer) all.set(`optimizer.${k}`, v);
  for (const [k, v] of tensors.ema ?? []) all.set(`ema.${k}`, v);
  writeSafetensors(join(tmp, 'trainer.safetensors'), all, { vizoo_trainer: JSON.stringify(state) });
  // A fresh folder name: the one checkpoint.json points at is never removed before the pointer moves on.
  let folder = name;
  for (let k = 1; existsSync(join(root, folder)); k++) folder = `${name}.${k}`;
  const final = join(root, folder);
  renameSync(tmp, final);
  const pointer: CheckpointPointer = { latest: `checkpoints/${folder}`, step: Number(state.optStep ?? 0), epoch: Number(state.epoch ?? 0) };
  atomicWriteFile(join(outDir, 'checkpoint.json'), `${JSON.stringify(pointer)}\n`);
  const old = readdirSync(root).filter((d) => d.startsWith('step-') && d !== folder).sort();
  for (const d of old.slice(0, Math.max(0, old.length - (keep - 1)))) rmSync(join(root, d), { recursive: true, force: true });
  return final;
}

export interface LoadedCheckpoint {
  dir: string;
  state: Record<string, unknown>;
  optimizer: Map<string, HostTensor>;
  ema: Map<string, HostTensor>;
}

/** Loads the latest checkpoint of `outDir` into `model` and returns the trainer state. */
/**
 * The checkpoint folder to resume from: the one checkpoint.json names, else (a run killed between writing a
 * folder and pointing at it) the newest folder, which is complete since folders are renamed into place only
 * when written. Only `checkpoints/step-*` folders are ever read.
 */
function latestCheckpointDir(outDir: string): string {
  const ptrPath = join(outDir, 'checkpoint.json');
  if (existsSync(ptrPath)) {
    let ptr: Partial<CheckpointPointer> = {};
    try {
      ptr = JSON.parse(readFileSync(ptrPath, 'utf8')) as CheckpointPointer;
    } catch {
      /* a damaged pointer: fall back to the folders */
    }
    if (typeof ptr.latest === 'string' && /^checkpoints\/step-[\w.]+$/.test(ptr.latest) && existsSync(join(outDir, ptr.latest, 'trainer.safetensors'))) return join(outDir, ptr.latest);
  }
  const root = join(outDir, 'checkpoints');
  const folders = existsSync(root) ? readdirSync(root).filter((d) => d.startsWith('step-') && existsSync(join(root, d, 'trainer.safetensors'))).sort() : [];
  if (!folders.length) throw new Error(`${outDir}: no checkpoint to resume from (no checkpoints/step-* folder)`);
  return join(root, folders.at(-1)!);
}

export function loadCheckpoint(outDir: string, model: Module): LoadedCheckpoint {
  const dir = latestCheckpointDir(outDir);
  loadWeights(model, join(dir, 'model.safetensors'));
  const t = readSafetensors(join(dir, 'trainer.safetensors'));
  const optimizer = new Map<string, HostTensor>();
  const ema = new Map<string, HostTensor>();
  for (const [k, v] of t.tensors) {
    if (k.startsWith('optimizer.')) optimizer.set(k.slice(10), v);
    else if (k.startsWith('ema.')) ema.set(k.slice(4), v);
  }
  const raw = t.metadata.vizoo_trainer;
  if (!raw) throw new Error(`${join(dir, 'trainer.safetensors')}: no trainer state in its metadata`);
  return { dir, state: JSON.parse(raw) as Record<string, unknown>, optimizer, ema };
}
