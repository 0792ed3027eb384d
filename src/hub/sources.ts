/**
 * Where pretrained weights come from, per registered variant and tag (`vizoo pull <model>[.<tag>]`).
 *
 * `OFFICIAL` below is the record of what each family's official repository (and the authors' HuggingFace
 * or cloud folders) publishes, read from their READMEs and download code at the commits named per family.
 * The `default` tag is the official checkpoint of the variant; other tags are further official files
 * (ImageNet-22K pretraining, other resolutions, other datasets, the transformers ports of the authors'
 * HuggingFace organisations). A source is a direct `file` URL, or, where the authors only give a Google
 * Drive / cloud link, the `page` listing it; sha256 values are only those the hosts publish (HuggingFace's
 * Git LFS records, read at the repositories' current revision). Variants absent from the record fall back
 * to their pretrained config's `url` / `weightsPage`; `*_deploy` variants take their train form's
 * sources, since loading a train-form checkpoint into a deploy model re-parameterizes it.
 */
import { getModelEntry, listModels } from '../models/registry.js';

export type WeightSourceKind = 'file' | 'page' | 'shipped';

export interface WeightSource {
  /** 'file': a direct download URL; 'page': where the official file is listed; 'shipped': in the package. */
  kind: WeightSourceKind;
  /** file: the download URL. */
  url?: string;
  /** Published sha256 of the file (file), or of the packaged file (shipped). */
  sha256?: string;
  /** page: the page listing the official file(s) (a Google Drive file, a cloud folder). */
  page?: string;
  /** The file's own name: the one to pick at a page, or to cache a URL under when its path has none. */
  file?: string;
  /** shipped: the file's path inside the package, relative to its root. */
  path?: string;
  /** Deploy variants: the train-form variant whose checkpoint this is (re-parameterized on load). */
  trainForm?: string;
  /** What the file is: dataset, resolution, reported accuracy, caveats. */
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

// Shorthands for the record below: each builds one source from what the official material states.
const file = (url: string, notes: string, sha256?: string): WeightSource => ({ kind: 'file', url, notes, ...(sha256 && { sha256 }) });
const hf = (repo: string, name: string, notes: string, sha256?: string): WeightSource => file(`${HF}/${repo}/resolve/main/${name}`, notes, sha256);
const page = (url: string, notes: string, name?: string): WeightSource => ({ kind: 'page', page: url, notes, ...(name && { file: name }) });
const drive = (id: string, notes: string, name?: string): WeightSource => page(`https://drive.google.com/file/d/${id}/view`, notes, name);

// Visual-Attention-Network/VAN-Classification@e19779b README "VAN Models (IN-1K)" and models/van.py model_urls
// (HuggingFace, LFS sha256 of each *-original repo); the same table links Tsinghua Cloud copies (?dl=1 files).
const vanHf = (size: string, name: string, top1: string, sha256: string, tsinghua: string, port: string) => ({
  default: hf(`Visual-Attention-Network/VAN-${size}-original`, name, `ImageNet-1K, 224px, top-1 ${top1}% (README).`, sha256),
  hf: hf(`Visual-Attention-Network/${port}`, 'pytorch_model.bin', 'HuggingFace transformers port (VanForImageClassification) in the authors\' organisation.'),
  tsinghua: { ...file(`https://cloud.tsinghua.edu.cn/f/${tsinghua}/?dl=1`, 'Tsinghua Cloud copy linked beside the HuggingFace one in the README.'), file: name },
});
// VAN-B4..B6 appear in the classification README as TODO; Visual-Attention-Network/VAN-Segmentation@8285fc7
// points to a Tsinghua Cloud folder of backbones, loaded by its UperNet configs as pretrained/van_b4.pth
// (ImageNet-1K) and van_b{4,5,6}_22k.pth (ImageNet-22K). Their heads and accuracies are not documented.
const VAN_FOLDER = 'https://cloud.tsinghua.edu.cn/d/0100f0cea37d41ba8d08/';
const van22k = (b: number) =>
  page(VAN_FOLDER, `ImageNet-22K pretrained VAN-B${b} backbone (VAN-Segmentation's 22k UperNet config loads it); no ImageNet-1K fine-tuned B${b} is published, and the head is undocumented.`, `van_b${b}_22k.pth`);

// maomao0819/BEVANet@603205b README "Models": Google Drive files only (names from the README's commands where given).
const BEVANET_REF = 'maomao0819/BEVANet README';

// AILab-CVC/UniRepLKNet@b5677d8 unireplknet.py huggingface_file_names, files of the HF repo DingXiaoH/UniRepLKNet
// (the README's Google Drive links are copies); sha256 only where HF's LFS record was seen at main.
const uni = (name: string, notes: string, sha256?: string) => hf('DingXiaoH/UniRepLKNet', name, notes, sha256);
const uniIn1k = (v: string, acc: string, sha256?: string) => ({ default: uni(`unireplknet_${v}_in1k_224_acc${acc}.pth`, `ImageNet-1K, 224px, top-1 ${acc}%.`, sha256) });
const uniIn22k = (v: string, size: number, sha256?: string) =>
  uni(`unireplknet_${v}_in22k_pretrain.pth`, `ImageNet-22K pretraining at ${size}px (the README's 22K table); not a 1000-class head.`, sha256);
const uni22kTo1k = (v: string, acc: string, sha256?: string) => uni(`unireplknet_${v}_in22k_to_in1k_384_acc${acc}.pth`, `ImageNet-22K pretrained, ImageNet-1K fine-tuned at 384px, top-1 ${acc}%.`, sha256);

// ziplab/LITv2@7501c86 README "Image Classification on ImageNet-1K": GitHub release assets.
const lit = (name: string, size: number, top1: string) => ({ default: file(`https://github.com/ziplab/LITv2/releases/download/v1.0/${name}.pth`, `ImageNet-1K, ${size}px, top-1 ${top1}% (README).`) });

// fudan-zvg/SOFT@d3febc3 README "Main results": Google Drive files for SOFT-Tiny and SOFT-{Tiny..Large}-Norm only.
const soft = (id: string, name: string, top1: string) => ({ default: drive(id, `ImageNet-1K, 224px, top-1 ${top1}% (README).`, name) });

// SHI-Labs/Neighborhood-Attention-Transformer@d334f5b classification/{nat,dinat,dinats,isotropic}.py model_urls
// (the same files as the README tables; classification/DiNAT.md spells the DiNAT_s files *_1k_224.pth, the
// code and the top-level DiNAT.md *_in1k_224.pth, which the code downloads). HF ports: the shi-labs organisation.
const SHI = 'https://shi-labs.com/projects';
const shi = (path: string, notes: string) => file(`${SHI}/${path}`, notes);
const shiHf = (repo: string, cls: string) => hf(`shi-labs/${repo}`, 'pytorch_model.bin', `HuggingFace transformers port (${cls}ForImageClassification) in the authors' organisation.`);
const in1k = (top1: string) => `ImageNet-1K, 224px, top-1 ${top1}% (README).`;
const nat = (v: string, top1: string) => ({ default: shi(`nat/checkpoints/CLS/nat_${v}.pth`, in1k(top1)), hf: shiHf(`nat-${v}-in1k-224`, 'Nat') });
const dinat = (v: string, top1: string) => ({ default: shi(`dinat/checkpoints/imagenet1k/dinat_${v}_in1k_224.pth`, in1k(top1)), hf: shiHf(`dinat-${v}-in1k-224`, 'Dinat') });
const iso = (name: string, top1: string) => ({ default: shi(`dinat/checkpoints/isotropic/${name}_in1k_224.pth`, in1k(top1)) });
const DILATION_384 = 'the official 384px model also widens the dilations (13/6/3 in levels 1-3), which this 224px variant does not';

// hustvl/ViG@dfb9d32 README "Model Weights" -> HF hustvl/ViG; file names and LFS sha256 from its upload commit af36a61.
const vig = (name: string, top1: string, sha256: string) => ({ default: hf('hustvl/ViG', name, `ImageNet-1K, 224px, top-1 ${top1}% (README).`, sha256) });

// WhiteJiang/EET@19b8442 main.py starts both students from facebookresearch/deit's ImageNet checkpoints (strict=False).
const deit = (name: string) => ({
  deit: file(`https://dl.fbaipublicfiles.com/deit/${name}.pth`, 'ImageNet DeiT weights the official EET recipe starts from, loaded non-strictly (facebookresearch/deit README); not a trained EET model.'),
});

/** The official sources, per variant and tag. */
const OFFICIAL: Record<string, Record<string, WeightSource>> = {
  van_b0: vanHf('Tiny', 'van_tiny_754.pth.tar', '75.4', '058bda07d27a89f27bbec8f3e47e6bda5de4f51dc59d0fb1f3cb835acb9130d8', 'aada2242a16245d6a561', 'van-tiny'),
  van_b1: vanHf('Small', 'van_small_811.pth.tar', '81.1', '7515c3da81dfd7f00413a8fa1e1d93dc7ecd13340a29fba0c02aed0deea9660b', 'dd3eb73692f74a2499c9', 'van-small'),
  van_b2: vanHf('Base', 'van_base_828.pth.tar', '82.8', '3fbae1db35c4f1f96c4d66f1c8b13cac9194043171ff8a7e87fd21eb43a93725', '58e7acceaf334ecdba89', 'van-base'),
  van_b3: vanHf('Large', 'van_large_839.pth.tar', '83.9', '47010a5f353820551108cbd10c2ad60670c6e8a9cf7869867ea682caca23a677', '0201745f6920482490a0', 'van-large'),
  van_b4: {
    default: page(VAN_FOLDER, 'ImageNet-1K pretrained VAN-B4 backbone (VAN-Segmentation\'s 1k UperNet config loads it); accuracy and head undocumented.', 'van_b4.pth'),
    in22k: van22k(4),
  },
  van_b5: { default: van22k(5) },
  van_b6: { default: van22k(6) },
  van_fmnist: { default: { kind: 'shipped', path: 'weights/van_fmnist.safetensors', notes: 'Shipped in the package: trained by vizoo on Fashion-MNIST, 90.94% test top-1 (weights/README.md).' } },

  bevanet_s_seg: {
    default: drive('1tk8vNr4t9qK481uid65NCj0fPvjLIBRk', `Cityscapes, 19 classes, val 78.2 mIoU (${BEVANET_REF}).`),
    camvid: drive('1mcWyBpG-NyG0-i7uS17si1CCb1QiFyNn', `CamVid, 11 classes (load with --num-classes 11), 720x960, val 83.1 mIoU (${BEVANET_REF}).`, 'BEVANet_S_VAL_Camvid.pt'),
  },
  bevanet_seg: {
    default: drive('1IxKY85Yx418Q8FmiI2tGj0-TrGahuUxe', `Cityscapes, 19 classes, val 81.0 mIoU (${BEVANET_REF}).`, 'BEVANet_VAL_Cityscapes.pt'),
    ade20k: drive('1WxXegdi1XgKDGj0CQvvYK4NdWm7XxCVp', `ADE20K, 150 classes (load with --num-classes 150), val 39.8 mIoU (${BEVANET_REF}).`, 'BEVANet_VAL_ADE20k.pt'),
  },
  bevanet_s_cls: { default: drive('1adaWjRHfoS97lxyEZHkM0vOn_1KFbI7j', `ImageNet-1K pretraining, top-1 71.1%, top-5 90.1% (${BEVANET_REF}).`) },
  bevanet_cls: { default: drive('1klSGNlUs6h7FHJ_lvOvKQEyzeWx_wrd0', `ImageNet-1K pretraining, top-1 76.3%, top-5 93.0% (${BEVANET_REF}).`, 'BEVANet_ImageNet.pth') },

  unireplknet_a: uniIn1k('a', '77.03'),
  unireplknet_f: uniIn1k('f', '78.58', 'b070ba01e853df306ac9d945f3c3592506595908adc1333d09983209fef7d5c8'),
  unireplknet_p: uniIn1k('p', '80.23', '36363a5df396c0550b67208c50cd1936d7154839ad8f791937e952b6093a83d4'),
  unireplknet_n: uniIn1k('n', '81.64'),
  unireplknet_t: uniIn1k('t', '83.21'),
  unireplknet_s: {
    ...uniIn1k('s', '83.91'),
    in22k_384: uni22kTo1k('s', '86.44', '120fd52aeb737512807600c53d89d86b0f2e81172b8049768e7ce52c389accfa'),
    in22k: uniIn22k('s', 224, '0ce556076536e876e407592fce67f5cbdb6245c6dfbc35e8cdc25b51a3ccfe43'),
  },
  unireplknet_b: { default: uni22kTo1k('b', '87.40'), in22k: uniIn22k('b', 224, 'aa3d4d70eb992e5e9f4dee0a4542fbad71c3cea7e2f08c03720c7308c1d62c51') },
  unireplknet_l: { default: uni22kTo1k('l', '87.88'), in22k: uniIn22k('l', 192) },
  unireplknet_xl: { default: uni22kTo1k('xl', '87.96', 'a5fb3d98f978dc4925cd50d3f3f8fd0c7dc5e47a8b4f22a68decb0c56fadf268'), in22k: uniIn22k('xl', 192) },

  litv2_s: lit('litv2_s', 224, '82.0'),
  litv2_m: lit('litv2_m', 224, '83.3'),
  litv2_b: lit('litv2_b', 224, '83.6'),
  litv2_b_384: lit('litv2_b_384', 384, '84.7'),

  soft_tiny: {
    ...soft('1S04DCotIOkP0DaBb8WStQ513z82qT9de', 'SOFT_Tiny', '79.3'),
    cuda: drive('1inDKh3Wz_2KQgGH_2ywU5H_gLKZpIz_u', 'SOFT-Tiny trained with config/SOFT_Tiny_cuda.yaml (the CUDA kernel for the Newton iteration; same parameters).', 'SOFT_Tiny_cuda'),
  },
  soft_norm_tiny: soft('1Isy5b9v_4pyIXDqhKPNRq3WKH0etDlfl', 'SOFT_Tiny_norm', '79.4'),
  soft_norm_small: soft('1OBjn7FzVdNP1Urqxq7X0yDykyPhxAAW1', 'SOFT_Small_norm', '82.4'),
  soft_norm_medium: soft('1K2C6daaJn3jwurWh38uvV7rexirWjuzh', 'SOFT_Medium_norm', '83.1'),
  soft_norm_large: soft('1aRYuF_gbBGyiXUDKEcpHJmM04SdvTUdP', 'SOFT_Large_norm', '83.3'),

  nat_mini: nat('mini', '81.8'),
  nat_tiny: nat('tiny', '83.2'),
  nat_small: nat('small', '83.7'),
  nat_base: nat('base', '84.3'),
  dinat_mini: dinat('mini', '81.8'),
  dinat_tiny: dinat('tiny', '82.7'),
  dinat_small: dinat('small', '83.8'),
  dinat_base: dinat('base', '84.4'),
  dinat_large: {
    default: shi('dinat/checkpoints/imagenet1k/dinat_large_in22k_in1k_224.pth', 'ImageNet-22K pretrained, ImageNet-1K fine-tuned, 224px, top-1 86.6% (README).'),
    in22k_384: shi('dinat/checkpoints/imagenet1k/dinat_large_in22k_in1k_384.pth', `ImageNet-22K pretrained, ImageNet-1K fine-tuned at 384px, top-1 87.4% (README); ${DILATION_384}.`),
    in22k: shi('dinat/checkpoints/imagenet22k/dinat_large_in22k_224.pth', 'ImageNet-22K pretraining, 224px (21k head).'),
    hf: shiHf('dinat-large-in22k-in1k-224', 'Dinat'),
  },
  dinat_s_tiny: { default: shi('dinat/checkpoints/imagenet1k/dinat_s_tiny_in1k_224.pth', in1k('81.8')) },
  dinat_s_small: { default: shi('dinat/checkpoints/imagenet1k/dinat_s_small_in1k_224.pth', in1k('83.5')) },
  dinat_s_base: { default: shi('dinat/checkpoints/imagenet1k/dinat_s_base_in1k_224.pth', in1k('83.8')) },
  dinat_s_large: {
    default: shi('dinat/checkpoints/imagenet1k/dinat_s_large_in1k_224.pth', 'ImageNet-22K pretrained, ImageNet-1K fine-tuned, 224px, top-1 86.5% (README).'),
    in22k_384: shi('dinat/checkpoints/imagenet1k/dinat_s_large_in1k_384.pth', `ImageNet-22K pretrained, ImageNet-1K fine-tuned at 384px, top-1 87.4% (README); ${DILATION_384}.`),
    in22k: shi('dinat/checkpoints/imagenet22k/dinat_s_large_in22k_224.pth', 'ImageNet-22K pretraining, 224px (21k head).'),
  },
  nat_isotropic_small: iso('nat_isotropic_small', '80.0'),
  nat_isotropic_base: iso('nat_isotropic_base', '81.6'),
  dinat_isotropic_small: iso('dinat_isotropic_small', '80.8'),
  dinat_isotropic_base: iso('dinat_isotropic_base', '82.1'),

  vig_t: vig('vig_t_77p2acc.pth', '77.2', 'a1eb2901db2331df033d3d6f8f20fb6d0561287f4972d98fc293c746cc70bfbb'),
  vig_s: vig('vig_s_81p7acc.pth', '81.7', 'ad1c62e85af5f527fbbb193077ab3192ed8f77c76631a91599e87fdae9dee0e6'),
  vig_b: vig('vig_b_82p6acc.pth', '82.6', '0a681ccacf5c012a6a432a39e9ad773fae053ac863696c42bb261e300af9f158'),
  vig_h_t: vig('vig_h_t_82p8acc.pth', '82.8', '287d1b6e742edf4b6dc6a36010ad09c27e52c5c140369ffc36230b4b335c5e68'),
  vig_h_s: vig('vig_h_s_83p8acc.pth', '83.8', '0d52501e8d6097177ba47520cc15052d694b82ecb7b7ffffab59a11dc40bbb4a'),
  vig_h_b: vig('vig_h_b_84p2acc.pth', '84.2', '49acb31474ba5cf616414739c9410721f8e7f77b5b20ac57b84e16f28682a263'),

  // The softmax-mixer ViTs are DeiT's layout and keys: facebookresearch/deit's ImageNet checkpoints load as they are.
  vit_tiny: { default: file('https://dl.fbaipublicfiles.com/deit/deit_tiny_patch16_224-a1311bcf.pth', 'DeiT-Ti, ImageNet-1K, 224px, 72.2% top-1 (facebookresearch/deit README); for the softmax mixer only') },
  vit_small: { default: file('https://dl.fbaipublicfiles.com/deit/deit_small_patch16_224-cd65a155.pth', 'DeiT-S, ImageNet-1K, 224px, 79.9% top-1 (facebookresearch/deit README); for the softmax mixer only') },
  vit_base: { default: file('https://dl.fbaipublicfiles.com/deit/deit_base_patch16_224-b5f2ef4d.pth', 'DeiT-B, ImageNet-1K, 224px, 81.8% top-1 (facebookresearch/deit README); for the softmax mixer only') },

  eet_vit_small_cub_16bit: deit('deit_small_patch16_224-cd65a155'),
  eet_vit_small_cub_64bit: deit('deit_small_patch16_224-cd65a155'),
  eet_vit_base_cub_16bit: deit('deit_base_patch16_224-b5f2ef4d'),
  eet_vit_base_cub_64bit: deit('deit_base_patch16_224-b5f2ef4d'),
};

const KARAT = 'MaitySubhajit/KArAt@39142d6 holds the project page only ("Codes: Coming Soon!"): no code or weights are published';
const EET = 'WhiteJiang/EET@19b8442 publishes training code only (README: the training command); no trained checkpoints';
const SOFT = 'fudan-zvg/SOFT@d3febc3 lists this size with a config but no checkpoint (README "Main results")';
const BEVANET = 'maomao0819/BEVANet@603205b releases BEVANet and BEVANet-S only; this config (configs/cityscapes) has no weights';

const because = (reason: string, ...models: string[]) => Object.fromEntries(models.map((m) => [m, reason]));

/**
 * Variants whose official repositories publish no trained checkpoint of their own, with the reason: they
 * have no `default` source (some have other tags, e.g. the initialization the official recipe starts from).
 * Deploy variants inherit their train form's entry.
 */
export const NO_OFFICIAL_WEIGHTS: Readonly<Record<string, string>> = {
  ...because(KARAT, 'karat_vit_tiny_g1b', 'karat_vit_tiny_g3b', 'karat_vit_tiny_g3u', 'karat_vit_small_g3b', 'karat_vit_base_g1b', 'karat_vit_base_g1u'),
  ...because(EET, 'eet_vit_small_cub_16bit', 'eet_vit_small_cub_64bit', 'eet_vit_base_cub_16bit', 'eet_vit_base_cub_64bit'),
  ...because(SOFT, 'soft_small', 'soft_medium', 'soft_large', 'soft_huge', 'soft_norm_huge'),
  ...because(BEVANET, 'bevanet_l_seg', 'bevanet_l_cls', 'bevanet_sw_seg', 'bevanet_sw_cls'),
};

/** `<name>_deploy` -> `<name>` when both are registered, else null. */
export function trainFormOf(model: string): string | null {
  if (!model.endsWith('_deploy')) return null;
  const train = model.slice(0, -'_deploy'.length);
  return listModels(train).includes(train) ? train : null;
}

/** Why `model` has no official checkpoint, or null when it has one (or is not known to lack one). */
export function noWeightsReason(model: string): string | null {
  const train = trainFormOf(model);
  return NO_OFFICIAL_WEIGHTS[model] ?? (train ? noWeightsReason(train) : null);
}

const PAGE_HINT = 'no direct file URL: download it there and pass --weights <file>';

const joinNotes = (...notes: (string | undefined)[]) => notes.filter((n): n is string => Boolean(n)).map((n) => n.replace(/\.$/, '')).join('; ');

/** A record entry as served: page sources end with what to do there; the default takes its config's sha256. */
function served(tag: string, s: WeightSource, cfg: { url?: string; sha256?: string }): WeightSource {
  // The default checkpoint is the one the pretrained config describes: a hash recorded there applies.
  const sha256 = s.sha256 ?? (tag === 'default' && (s.kind === 'shipped' || s.url === cfg.url) ? cfg.sha256 : undefined);
  const hint = s.kind === 'page' ? `${PAGE_HINT}${s.file ? ` (${s.file})` : ''}` : undefined;
  return { ...s, ...(sha256 && { sha256 }), notes: joinNotes(s.notes, hint) };
}

/** Sources from a variant's pretrained config, for variants the record does not list. */
function fromConfig(cfg: { url?: string; weightsPage?: string }): Record<string, WeightSource> {
  if (cfg.url) return { default: { kind: 'file', url: cfg.url } };
  if (cfg.weightsPage) return { default: { kind: 'page', page: cfg.weightsPage } };
  return {};
}

/**
 * Every known source of a variant, by tag. `default` is the official checkpoint (absent where none is
 * published: see noWeightsReason); a deploy variant without its own record takes its train form's sources.
 */
export function weightSources(model: string): Record<string, WeightSource> {
  const cfg = getModelEntry(model).pretrainedCfg;
  const train = OFFICIAL[model] ? null : trainFormOf(model);
  if (train) {
    const note = `the ${train} checkpoint: vizoo builds ${train}, loads it and re-parameterizes it into this deploy form`;
    return Object.fromEntries(Object.entries(weightSources(train)).map(([tag, s]) => [tag, { ...s, trainForm: train, notes: joinNotes(s.notes, note) }]));
  }
  const own = OFFICIAL[model] ?? fromConfig(cfg);
  return Object.fromEntries(Object.entries(own).map(([tag, s]) => [tag, served(tag, s, cfg)]));
}

/** Where a source points: its URL, page, or packaged path. */
export function sourceLocation(s: WeightSource): string {
  return s.url ?? s.page ?? s.path ?? '';
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
    const why = tag === 'default' ? noWeightsReason(model) : null;
    throw new Error(`${model} has no weights tagged '${tag}'${tags.length ? ` (tags: ${tags.join(', ')})` : ' (no known weight source)'}${why ? `: ${why}` : ''}`);
  }
  return { model, tag, source };
}
