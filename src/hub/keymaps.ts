/**
 * Foreign state-dict namings -> vizoo's (= the official repos'). Official keys are native; a key map turns
 * another naming (HuggingFace transformers ports) into them, and generic fixes handle checkpoint quirks:
 * wrapper prefixes (`model.` of BEVANet's FullModel, `module.` of DDP, `_orig_mod.` of torch.compile, `ema.`),
 * and train-form checkpoints given to deploy-form models (re-parameterized on load).
 */
import { type HostTensor, type StateDict, numel, toFloat32 } from './host_tensor.js';
import { keyName } from '../util/summary.js';

/** A state dict a key map cannot convert (parts missing, shapes that do not line up); loaders add the file's name. */
export class KeyMapError extends Error {}

export interface KeyMap {
  name: string;
  description: string;
  /** True when the keys look like this naming. */
  matches(keys: string[]): boolean;
  /** The state dict under official keys; keys it does not know are passed through. */
  apply(sd: StateDict): StateDict;
}

type Rename = [RegExp, (m: RegExpMatchArray) => string];

function renameAll(sd: StateDict, rules: Rename[], drop: RegExp[] = []): StateDict {
  const out: StateDict = new Map();
  for (const [k, t] of sd) {
    if (drop.some((d) => d.test(k))) continue;
    let name = k;
    for (const [re, f] of rules) {
      const m = k.match(re);
      if (m) {
        name = f(m) + k.slice(m[0].length);
        break;
      }
    }
    out.set(name, t);
  }
  return out;
}

function concatRows(parts: HostTensor[], what: string): HostTensor {
  const rest = (t: HostTensor) => t.shape.slice(1).join();
  if (parts.some((p) => p.shape.length === 0 || rest(p) !== rest(parts[0]!))) {
    throw new KeyMapError(`${what}: the parts have shapes ${parts.map((p) => `[${p.shape}]`).join(', ')}, which do not stack into one tensor`);
  }
  const shape = [...parts[0]!.shape];
  shape[0] = parts.reduce((s, p) => s + p.shape[0]!, 0);
  const data = new Float32Array(numel(shape));
  let o = 0;
  for (const p of parts) {
    const v = toFloat32(p);
    data.set(v, o);
    o += v.length;
  }
  return { dtype: 'F32', shape, data };
}

function row(t: HostTensor, i: number, what: string): HostTensor {
  if (t.shape.length === 0 || t.shape[0]! <= i) throw new KeyMapError(`${what} has shape [${t.shape}], no row ${i}`);
  const n = numel(t.shape.slice(1));
  return { dtype: 'F32', shape: t.shape.slice(1), data: toFloat32(t).slice(i * n, (i + 1) * n) };
}

/** HuggingFace `VanForImageClassification` / `VanModel` (hub repos `Visual-Attention-Network/van-*`). */
const HF_VAN: KeyMap = {
  name: 'hf-van',
  description: 'HuggingFace transformers VAN (van.encoder.stages.*)',
  matches: (keys) => keys.some((k) => /^(van\.)?encoder\.stages\.\d+\.embeddings\.convolution\./.test(k)),
  apply(sd) {
    const stage = (m: RegExpMatchArray) => Number(m[1]) + 1;
    const L = String.raw`^(?:van\.)?encoder\.stages\.(\d+)\.layers\.(\d+)\.`;
    const block = (m: RegExpMatchArray, rest: string) => `block${stage(m)}.${m[2]}.${rest}`;
    return renameAll(
      sd,
      [
        [/^(?:van\.)?encoder\.stages\.(\d+)\.embeddings\.convolution\./, (m) => `patch_embed${stage(m)}.proj.`],
        [/^(?:van\.)?encoder\.stages\.(\d+)\.embeddings\.normalization\./, (m) => `patch_embed${stage(m)}.norm.`],
        [new RegExp(`${L}pre_normomalization\\.`), (m) => block(m, 'norm1.')],
        [new RegExp(`${L}attention\\.pre_projection\\.conv\\.`), (m) => block(m, 'attn.proj_1.')],
        [new RegExp(`${L}attention\\.attention_layer\\.attention\\.depth_wise_dilated\\.`), (m) => block(m, 'attn.spatial_gating_unit.conv_spatial.')],
        [new RegExp(`${L}attention\\.attention_layer\\.attention\\.depth_wise\\.`), (m) => block(m, 'attn.spatial_gating_unit.conv0.')],
        [new RegExp(`${L}attention\\.attention_layer\\.attention\\.point_wise\\.`), (m) => block(m, 'attn.spatial_gating_unit.conv1.')],
        [new RegExp(`${L}attention\\.post_projection\\.`), (m) => block(m, 'attn.proj_2.')],
        [new RegExp(`${L}attention_scaling\\.weight$`), (m) => block(m, 'layer_scale_1')],
        [new RegExp(`${L}post_normalization\\.`), (m) => block(m, 'norm2.')],
        [new RegExp(`${L}mlp\\.in_dense\\.`), (m) => block(m, 'mlp.fc1.')],
        [new RegExp(`${L}mlp\\.depth_wise\\.`), (m) => block(m, 'mlp.dwconv.dwconv.')],
        [new RegExp(`${L}mlp\\.out_dense\\.`), (m) => block(m, 'mlp.fc2.')],
        [new RegExp(`${L}mlp_scaling\\.weight$`), (m) => block(m, 'layer_scale_2')],
        [/^(?:van\.)?encoder\.stages\.(\d+)\.normalization\./, (m) => `norm${stage(m)}.`],
        [/^classifier\./, () => 'head.'],
      ],
      // HF creates a final LayerNorm its forward never uses.
      [/^(?:van\.)?layernorm\./],
    );
  },
};

/**
 * HuggingFace `NatForImageClassification` / `DinatForImageClassification` (hub repos `shi-labs/nat-*`,
 * `shi-labs/dinat-*`): separate query/key/value Linears (concatenated into qkv), layer scales stacked as (2, dim).
 */
const HF_NAT: KeyMap = {
  name: 'hf-nat',
  description: 'HuggingFace transformers NAT / DiNAT (nat.encoder.levels.*, dinat.encoder.levels.*)',
  matches: (keys) => keys.some((k) => /^(?:di)?nat\.(embeddings|encoder)\./.test(k)),
  apply(sd) {
    const P = String.raw`^(?:di)?nat\.`;
    const L = `${P}encoder\\.levels\\.(\\d+)\\.layers\\.(\\d+)\\.`;
    const blk = (m: RegExpMatchArray, rest: string) => `levels.${m[1]}.blocks.${m[2]}.${rest}`;
    const renamed = renameAll(sd, [
      [new RegExp(`${P}embeddings\\.patch_embeddings\\.projection\\.`), () => 'patch_embed.proj.'],
      [new RegExp(`${P}embeddings\\.norm\\.`), () => 'patch_embed.norm.'],
      [new RegExp(`${L}layernorm_before\\.`), (m) => blk(m, 'norm1.')],
      [new RegExp(`${L}attention\\.self\\.rpb$`), (m) => blk(m, 'attn.rpb')],
      [new RegExp(`${L}attention\\.self\\.(query|key|value)\\.`), (m) => blk(m, `attn.${m[3]}.`)],
      [new RegExp(`${L}attention\\.output\\.dense\\.`), (m) => blk(m, 'attn.proj.')],
      [new RegExp(`${L}layernorm_after\\.`), (m) => blk(m, 'norm2.')],
      [new RegExp(`${L}intermediate\\.dense\\.`), (m) => blk(m, 'mlp.fc1.')],
      [new RegExp(`${L}output\\.dense\\.`), (m) => blk(m, 'mlp.fc2.')],
      [new RegExp(`${L}layer_scale_parameters$`), (m) => blk(m, 'layer_scale_parameters')],
      [new RegExp(`${P}encoder\\.levels\\.(\\d+)\\.downsample\\.`), (m) => `levels.${m[1]}.downsample.`],
      [new RegExp(`${P}layernorm\\.`), () => 'norm.'],
      [/^classifier\./, () => 'head.'],
    ]);
    const out: StateDict = new Map();
    for (const [k, t] of renamed) {
      const qkv = /^(.*\.attn\.)(query|key|value)\.(weight|bias)$/.exec(k);
      if (qkv) {
        if (qkv[2] !== 'query') continue;
        const parts = ['query', 'key', 'value'].map((n) => renamed.get(`${qkv[1]}${n}.${qkv[3]}`));
        const what = `HF NAT checkpoint: ${keyName(`${qkv[1]}{query,key,value}.${qkv[3]}`)}`;
        if (parts.some((p) => !p)) throw new KeyMapError(`${what} incomplete`);
        out.set(`${qkv[1]}qkv.${qkv[3]}`, concatRows(parts as HostTensor[], what));
        continue;
      }
      const ls = /^(.*\.)layer_scale_parameters$/.exec(k);
      if (ls) {
        out.set(`${ls[1]}gamma1`, row(t, 0, keyName(k)));
        out.set(`${ls[1]}gamma2`, row(t, 1, keyName(k)));
        continue;
      }
      out.set(k, t);
    }
    return out;
  },
};

/**
 * ViG-H checkpoints of the authors' earlier training code, which `HierViG._load_from_state_dict` renames:
 * patch_embed.proj/norm -> patch_embed.0/2, blocks' ln_1 -> norm and self_attention -> op, norm/head ->
 * classifier.norm/head.
 */
const VIG_LEGACY: KeyMap = {
  name: 'vig-legacy',
  description: 'ViG-H legacy training-code names (ln_1, self_attention, top-level norm/head)',
  matches: (keys) => keys.some((k) => /^layers\.\d+\.blocks\.\d+\.(ln_1|self_attention)\./.test(k)),
  apply: (sd) =>
    renameAll(sd, [
      [/^patch_embed\.proj\./, () => 'patch_embed.0.'],
      [/^patch_embed\.norm\./, () => 'patch_embed.2.'],
      [/^(layers\.\d+\.blocks\.\d+\.)ln_1\./, (m) => `${m[1]}norm.`],
      [/^(layers\.\d+\.blocks\.\d+\.)self_attention\./, (m) => `${m[1]}op.`],
      [/^norm\./, () => 'classifier.norm.'],
      [/^head\./, () => 'classifier.head.'],
    ]),
};

export const KEY_MAPS: KeyMap[] = [HF_VAN, HF_NAT, VIG_LEGACY];

export function getKeyMap(name: string): KeyMap {
  const m = KEY_MAPS.find((k) => k.name === name);
  if (!m) throw new Error(`unknown key map '${name}' (known: ${KEY_MAPS.map((k) => k.name).join(', ')})`);
  return m;
}

/** Wrapper prefixes training code adds in front of every key. */
const WRAPPER_PREFIXES = ['module.', 'model.', '_orig_mod.', 'ema.', 'model_ema.', 'backbone.', 'encoder.', 'net.'];

export interface AdaptReport {
  /** Key map applied, if any. */
  keyMap?: string;
  /** Prefixes stripped, outermost first. */
  strippedPrefixes: string[];
  /** Keys dropped with a stripped prefix (they did not carry it, e.g. loss buffers beside `model.*`). */
  dropped: string[];
}

function matchCount(keys: Iterable<string>, want: Set<string>): number {
  let n = 0;
  for (const k of keys) if (want.has(k)) n++;
  return n;
}

/**
 * Renames a foreign state dict to the official keys of a model whose keys are `want`: the named key map
 * (or the one whose naming the keys match, with 'auto'), then wrapper prefixes stripped while that makes
 * more keys match.
 */
export function mapStateDict(sd: StateDict, want: Set<string>, keyMap: string = 'auto', shapes?: Map<string, readonly number[]>): { sd: StateDict; report: AdaptReport } {
  const report: AdaptReport = { strippedPrefixes: [], dropped: [] };
  let cur = sd;
  // Prefix chains up to three deep ('model.module.' of a DDP model saved through a wrapper); ties go to the
  // shorter chain, then to the first in this order.
  const rank = new Map<string, number>();
  for (const a of WRAPPER_PREFIXES) {
    rank.set(a, rank.size);
    for (const b of WRAPPER_PREFIXES) {
      rank.set(a + b, rank.size);
      for (const c of WRAPPER_PREFIXES) rank.set(a + b + c, rank.size);
    }
  }
  const strip = () => {
    const base = matchCount(cur.keys(), want);
    if (base === want.size) return;
    // Each key adds to the chains it starts with (one pass over the keys, whatever their number).
    const counts = new Map<string, { chain: string[]; count: number }>();
    const visit = (rest: string, chain: string[]) => {
      if (chain.length) {
        const id = chain.join('');
        const c = counts.get(id) ?? { chain, count: 0 };
        if (want.has(rest)) c.count++;
        counts.set(id, c);
      }
      if (chain.length < 3) for (const p of WRAPPER_PREFIXES) if (rest.startsWith(p)) visit(rest.slice(p.length), [...chain, p]);
    };
    for (const k of cur.keys()) visit(k, []);
    let best: { chain: string[]; count: number } | null = null;
    const better = (a: { chain: string[]; count: number }, b: { chain: string[]; count: number }) =>
      a.count !== b.count ? a.count > b.count : a.chain.length !== b.chain.length ? a.chain.length < b.chain.length : rank.get(a.chain.join(''))! < rank.get(b.chain.join(''))!;
    for (const c of counts.values()) if (c.count > base && (!best || better(c, best))) best = c;
    if (!best) return;
    const p = best.chain.join('');
    const next: StateDict = new Map();
    for (const [k, t] of cur) {
      if (k.startsWith(p)) next.set(k.slice(p.length), t);
      else report.dropped.push(k);
    }
    report.strippedPrefixes.push(...best.chain);
    cur = next;
  };
  strip();
  if (keyMap !== 'none' && matchCount(cur.keys(), want) < want.size) {
    const km = keyMap === 'auto' ? KEY_MAPS.find((m) => m.matches([...cur.keys()])) : getKeyMap(keyMap);
    if (km) {
      cur = km.apply(cur);
      report.keyMap = km.name;
      strip();
    }
  }
  if (shapes) cur = squeezeTrailingOnes(cur, shapes);
  return { sd: cur, report };
}

/**
 * A weight stored with extra trailing 1-dims (a 1x1 conv kernel (out, in, 1, 1) for a Linear (out, in):
 * ViG's Linear2d loads either) is viewed in the model's shape.
 */
function squeezeTrailingOnes(sd: StateDict, shapes: Map<string, readonly number[]>): StateDict {
  let out: StateDict | null = null;
  for (const [k, t] of sd) {
    const want = shapes.get(k);
    if (!want || want.length === t.shape.length) continue;
    const [long, short] = t.shape.length > want.length ? [t.shape, want] : [want, t.shape];
    if (!short.every((d, i) => d === long[i]) || !long.slice(short.length).every((d) => d === 1)) continue;
    out ??= new Map(sd);
    out.set(k, { ...t, shape: [...want] });
  }
  return out ?? sd;
}
