/**
 * Where pretrained weights come from, per registered variant and tag (`vizoo pull <model>[.<tag>]`): the
 * default tag is the registry's pretrained config URL (the official checkpoint); further tags name other
 * official sources (HuggingFace transformers ports, which load through the key maps).
 */
import { getModelEntry, listModels } from '../models/registry.js';

export interface WeightSource {
  url?: string;
  sha256?: string;
  /** When there is no direct file URL: where the official files are listed. */
  page?: string;
  notes?: string;
}

const HF = 'https://huggingface.co';

/** Splits `hf:org/repo[/file]` into the repository and the file path ('' when none is named). */
export function parseHfSpec(spec: string): { repo: string; file: string } {
  const parts = spec.slice(3).split('/').filter(Boolean);
  if (!spec.startsWith('hf:') || parts.length < 2) throw new Error(`'${spec}': expected hf:org/repo[/file]`);
  return { repo: `${parts[0]}/${parts[1]}`, file: parts.slice(2).join('/') };
}

/** The download URL of a file of a HuggingFace repository (`file` defaults to the spec's own). */
export function hfUrl(spec: string, endpoint = HF, file?: string): string {
  const p = parseHfSpec(spec);
  const f = file ?? p.file;
  if (!f) throw new Error(`'${spec}': name the file: hf:${p.repo}/<file>`);
  return `${endpoint}/${p.repo}/resolve/main/${f}`;
}

/** Extra sources beside the pretrained configs' URLs. */
const EXTRA: Record<string, Record<string, WeightSource>> = {
  van_b0: { hf: { url: `${HF}/Visual-Attention-Network/van-tiny/resolve/main/pytorch_model.bin`, notes: 'HuggingFace transformers port (VanForImageClassification).' } },
  van_b1: { hf: { url: `${HF}/Visual-Attention-Network/van-small/resolve/main/pytorch_model.bin`, notes: 'HuggingFace transformers port.' } },
  van_b2: { hf: { url: `${HF}/Visual-Attention-Network/van-base/resolve/main/pytorch_model.bin`, notes: 'HuggingFace transformers port.' } },
  van_b3: { hf: { url: `${HF}/Visual-Attention-Network/van-large/resolve/main/pytorch_model.bin`, notes: 'HuggingFace transformers port.' } },
  nat_mini: { hf: { url: `${HF}/shi-labs/nat-mini-in1k-224/resolve/main/pytorch_model.bin`, notes: 'HuggingFace transformers port (NatForImageClassification).' } },
  nat_tiny: { hf: { url: `${HF}/shi-labs/nat-tiny-in1k-224/resolve/main/pytorch_model.bin`, notes: 'HuggingFace transformers port.' } },
  nat_small: { hf: { url: `${HF}/shi-labs/nat-small-in1k-224/resolve/main/pytorch_model.bin`, notes: 'HuggingFace transformers port.' } },
  nat_base: { hf: { url: `${HF}/shi-labs/nat-base-in1k-224/resolve/main/pytorch_model.bin`, notes: 'HuggingFace transformers port.' } },
  dinat_mini: { hf: { url: `${HF}/shi-labs/dinat-mini-in1k-224/resolve/main/pytorch_model.bin`, notes: 'HuggingFace transformers port (DinatForImageClassification).' } },
  dinat_tiny: { hf: { url: `${HF}/shi-labs/dinat-tiny-in1k-224/resolve/main/pytorch_model.bin`, notes: 'HuggingFace transformers port.' } },
  dinat_small: { hf: { url: `${HF}/shi-labs/dinat-small-in1k-224/resolve/main/pytorch_model.bin`, notes: 'HuggingFace transformers port.' } },
  dinat_base: { hf: { url: `${HF}/shi-labs/dinat-base-in1k-224/resolve/main/pytorch_model.bin`, notes: 'HuggingFace transformers port.' } },
};

/** Every known source of a variant, by tag ('default': the pretrained config's file URL, or its weights page). */
export function weightSources(model: string): Record<string, WeightSource> {
  const cfg = getModelEntry(model).pretrainedCfg;
  const out: Record<string, WeightSource> = {};
  if (cfg.url) out.default = { url: cfg.url, sha256: cfg.sha256 };
  else if (cfg.weightsPage) out.default = { page: cfg.weightsPage, notes: 'no direct file URL: download the file from there and pass --weights <file> (a HuggingFace repo: --weights hf:<org>/<repo>/<file>)' };
  Object.assign(out, EXTRA[model] ?? {});
  return out;
}

/** Resolves `model[.tag]` to a registered model and a source. */
export function resolvePull(spec: string): { model: string; tag: string; source: WeightSource } {
  let model = spec;
  let tag = 'default';
  if (!listModels(spec).includes(spec)) {
    const i = spec.lastIndexOf('.');
    if (i > 0) {
      model = spec.slice(0, i);
      tag = spec.slice(i + 1);
    }
  }
  const sources = weightSources(model);
  const source = sources[tag];
  if (!source) {
    const tags = Object.keys(sources);
    throw new Error(`${model} has no weights tagged '${tag}'${tags.length ? ` (tags: ${tags.join(', ')})` : ' (no known weight source)'}`);
  }
  return { model, tag, source };
}
