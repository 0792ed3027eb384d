/**
 * Parameter groups as timm builds them: no weight decay on 1-D parameters (norms, biases, layer scales) and
 * on names the model lists; freezing by name pattern; layer-wise learning-rate decay (BEiT-style:
 * scale = decay^(num_layers - layer_id)).
 */
import type { Module, Parameter } from '../nn/module.js';
import type { ParamGroup } from './optim.js';

function patternToRegExp(p: string): RegExp {
  return new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
}

/** Marks parameters matching any pattern (`patch_embed1.*`, `block1.*`, ...) as not trainable; returns their keys. */
export function freezeParameters(model: Module, patterns: string[]): string[] {
  const res = patterns.map(patternToRegExp);
  const frozen: string[] = [];
  for (const [k, p] of model.namedParameters()) {
    if (res.some((r) => r.test(k))) {
      p.trainable = false;
      frozen.push(k);
    }
  }
  if (patterns.length && !frozen.length) throw new Error(`--freeze ${patterns.join(',')} matches no parameter`);
  return frozen;
}

/**
 * Layer ids for layer-wise decay: parameters before the first block are layer 0; each block (a key prefix
 * `<list>.<index>.`) opens a new layer; modules between blocks (downsampling, stage norms) join the next
 * block; the classifier (`headModules`) and anything after the last block get the last layer.
 */
export function layerIds(model: Module, headModules: readonly string[] = ['head']): { ids: Map<string, number>; numLayers: number } {
  const keys = model.namedParameters().map(([k]) => k);
  const blockOf = (k: string) => /^(.*?\.\d+)\./.exec(k)?.[1] ?? null;
  const ids = new Map<string, number>();
  let layer = 0;
  let current: string | null = null;
  const pending: string[] = [];
  for (const k of keys) {
    if (headModules.includes(k.split('.')[0]!)) continue;
    const b = blockOf(k);
    if (b === null) {
      if (current === null) ids.set(k, 0);
      else pending.push(k);
      continue;
    }
    if (b !== current) {
      layer++;
      current = b;
    }
    for (const p of pending.splice(0)) ids.set(p, layer);
    ids.set(k, layer);
  }
  const last = layer + 1;
  for (const p of pending) ids.set(p, last);
  for (const k of keys) if (!ids.has(k)) ids.set(k, last);
  return { ids, numLayers: last + 1 };
}

export interface GroupOptions {
  weightDecay: number;
  /** Extra names without decay (e.g. pos_embed, cls_token). */
  noDecay?: string[];
  layerDecay?: number;
  headModules?: readonly string[];
}

export function buildParamGroups(model: Module, o: GroupOptions): ParamGroup[] {
  const trainable = model.namedParameters().filter(([, p]) => p.trainable);
  const { ids, numLayers } = o.layerDecay ? layerIds(model, o.headModules) : { ids: new Map<string, number>(), numLayers: 1 };
  const groups = new Map<string, ParamGroup>();
  const noDecay = new Set(o.noDecay ?? []);
  for (const [key, param] of trainable) {
    const skip = param.shape.length <= 1 || key.endsWith('.bias') || noDecay.has(key);
    const wd = skip ? 0 : o.weightDecay;
    const scale = o.layerDecay ? o.layerDecay ** (numLayers - 1 - ids.get(key)!) : 1;
    const gk = `${wd}:${scale}`;
    let g = groups.get(gk);
    if (!g) {
      g = { params: [], weightDecay: wd, lrScale: scale };
      groups.set(gk, g);
    }
    g.params.push({ key, param: param as Parameter });
  }
  return [...groups.values()];
}
