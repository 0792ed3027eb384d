/**
 * Local/sparse attention classes: NATTEN's NA modules (v0.17.5 and HEAD) and op, the NAT repo's
 * classification classes, EET's `model/vit.py`. The manifests leave `architecture` empty, so every builder is
 * keyed by class name and restricted to its official source file.
 */
import { tf } from '../../tf.js';
import type { LayerModule } from '../../nn/module.js';
import { neighborhoodAttention } from '../../kernels/neighborhood_attention.js';
import { NATLayer, NeighborhoodAttention } from '../../blocks/neighborhood_attention.js';
import { PatchMerging, SwinPatchEmbed } from '../../blocks/swin_patch.js';
import { ConvDownsampler, ConvTokenizer, NAT } from '../../models/nat.js';
import { DiNATs } from '../../models/dinat_s.js';
import { NATIsotropic } from '../../models/nat_isotropic.js';
import { EETAttention, EETBlock, EETViT, eetStudentPruning, pruneTokens } from '../../models/eet.js';
import { type ParityBuilder, type ParityTarget, kwBool, kwNumber, kwNumbers, kwOptNumber, kwSize, normLayerEps, refuseKwargs, registerParityBuilder } from '../registry.js';

const single = (m: LayerModule): ParityTarget => ({ module: m, run: ([x]) => m.forward(x!) });

/** A kwarg that may be a number or a per-axis list. */
function kwAxes(kw: Record<string, unknown>, name: string, dflt: number | boolean): number | number[] | boolean | boolean[] {
  const v = kw[name];
  return v === undefined || v === null ? dflt : (v as number | number[] | boolean | boolean[]);
}

/** Registers a builder for class names, either for any case (names only this family uses) or per source file. */
function register(classNames: string | string[], builder: ParityBuilder, modules?: string[]): void {
  if (!modules) registerParityBuilder('', classNames, builder);
  else for (const module of modules) registerParityBuilder('', classNames, builder, { module });
}

// Class names other repos also use ('PatchEmbed', 'Attention', 'op', ...) are tied to their source files.
const NATTEN_OPS = ['natten.functional.na1d (NATTEN HEAD)', 'natten.functional.na2d (NATTEN HEAD)', 'natten.functional.na3d (NATTEN HEAD)'];
const DINATS = ['classification/dinats.py', 'classification/isotropic.py'];
const EET = ['model/vit.py'];

for (const [cls, rank] of [['NeighborhoodAttention1D', 1], ['NeighborhoodAttention2D', 2], ['NeighborhoodAttention3D', 3]] as const) {
  // NATTEN 0.17.5 names the width `dim`; NATTEN >= 0.20 names it `embed_dim` and adds stride / is_causal.
  register(cls,
    ({ kwargs }) =>
      single(
        new NeighborhoodAttention({
          dim: kwNumber(kwargs, kwargs.embed_dim !== undefined ? 'embed_dim' : 'dim'),
          numHeads: kwNumber(kwargs, 'num_heads'),
          spatialRank: rank,
          kernelSize: kwAxes(kwargs, 'kernel_size', 7) as number | number[],
          dilation: kwAxes(kwargs, 'dilation', 1) as number | number[],
          stride: kwAxes(kwargs, 'stride', 1) as number | number[],
          isCausal: kwAxes(kwargs, 'is_causal', false) as boolean | boolean[],
          relPosBias: Boolean(kwargs.rel_pos_bias ?? false),
          qkvBias: (kwargs.qkv_bias as boolean | undefined) ?? true,
          qkScale: (kwargs.qk_scale as number | null | undefined) ?? null,
        }),
      ),
      );
}

register('op',
  ({ kwargs }) => ({
    run: ([q, k, v]) =>
      neighborhoodAttention(q!, k!, v!, {
        kernelSize: kwAxes(kwargs, 'kernel_size', 7) as number[],
        stride: kwAxes(kwargs, 'stride', 1) as number[],
        dilation: kwAxes(kwargs, 'dilation', 1) as number[],
        isCausal: kwAxes(kwargs, 'is_causal', false) as boolean[],
        scale: typeof kwargs.scale === 'number' ? kwargs.scale : undefined,
      }),
  }),
  NATTEN_OPS,
);

const natLayer = (kwargs: Record<string, unknown>, withLayerScale: boolean) =>
  new NATLayer({
    dim: kwNumber(kwargs, 'dim'),
    numHeads: kwNumber(kwargs, 'num_heads'),
    kernelSize: kwNumber(kwargs, 'kernel_size', 7),
    dilation: (kwargs.dilation as number | null | undefined) ?? 1,
    mlpRatio: kwNumber(kwargs, 'mlp_ratio', 4),
    qkvBias: (kwargs.qkv_bias as boolean | undefined) ?? true,
    qkScale: (kwargs.qk_scale as number | null | undefined) ?? null,
    layerScale: withLayerScale ? ((kwargs.layer_scale as number | null | undefined) ?? null) : null,
    normEps: normLayerEps(kwargs.norm_layer, 1e-5),
  });

register('NATLayer', ({ kwargs }) => single(natLayer(kwargs, true)));
register('NATransformerLayer', ({ kwargs }) => single(natLayer(kwargs, false)), DINATS);
register('ConvTokenizer', ({ kwargs }) => single(new ConvTokenizer(kwNumber(kwargs, 'in_chans', 3), kwNumber(kwargs, 'embed_dim', 96), kwargs.norm_layer != null)));
register('ConvDownsampler', ({ kwargs }) => single(new ConvDownsampler(kwNumber(kwargs, 'dim'))));

const natModel = (kwargs: Record<string, unknown>) =>
  new NAT({
    embedDim: kwNumber(kwargs, 'embed_dim'),
    mlpRatio: kwNumber(kwargs, 'mlp_ratio'),
    depths: kwNumbers(kwargs, 'depths'),
    numHeads: kwNumbers(kwargs, 'num_heads'),
    kernelSize: kwNumber(kwargs, 'kernel_size', 7),
    dilations: (kwargs.dilations as number[][] | null | undefined) ?? null,
    layerScale: (kwargs.layer_scale as number | null | undefined) ?? null,
    inChans: kwNumber(kwargs, 'in_chans', 3),
    numClasses: kwNumber(kwargs, 'num_classes', 1000),
    qkvBias: (kwargs.qkv_bias as boolean | undefined) ?? true,
    qkScale: (kwargs.qk_scale as number | null | undefined) ?? null,
    dropPathRate: kwNumber(kwargs, 'drop_path_rate', 0.2),
  });

register(['NAT', 'DiNAT'], ({ kwargs }) => single(natModel(kwargs)));

register('PatchMerging', ({ kwargs }) => single(new PatchMerging(kwNumber(kwargs, 'dim'))), DINATS);
register('PatchEmbed',
  ({ kwargs }) => single(new SwinPatchEmbed(kwNumber(kwargs, 'patch_size', 4), kwNumber(kwargs, 'in_chans', 3), kwNumber(kwargs, 'embed_dim', 96), kwargs.norm_layer != null)),
  DINATS,
);
register('DiNAT_s',
  ({ kwargs }) =>
    single(
      new DiNATs({
        embedDim: kwNumber(kwargs, 'embed_dim', 96),
        depths: kwNumbers(kwargs, 'depths', [2, 2, 6, 2]),
        numHeads: kwNumbers(kwargs, 'num_heads', [3, 6, 12, 24]),
        patchSize: kwNumber(kwargs, 'patch_size', 4),
        kernelSize: kwNumber(kwargs, 'kernel_size', 7),
        dilations: (kwargs.dilations as number[][] | null | undefined) ?? null,
        mlpRatio: kwNumber(kwargs, 'mlp_ratio', 4),
        inChans: kwNumber(kwargs, 'in_chans', 3),
        numClasses: kwNumber(kwargs, 'num_classes', 1000),
        qkvBias: kwBool(kwargs, 'qkv_bias', true),
        qkScale: kwOptNumber(kwargs, 'qk_scale'),
        patchNorm: kwBool(kwargs, 'patch_norm', true),
      }),
    ),
  DINATS,
);
register('NATIsotropic',
  ({ kwargs }) => {
    // `layer` picks the block class: NATransformerLayer (NA) or the ViT-RPB baseline, which vizoo lacks.
    const layer = String(kwargs.layer ?? 'NATransformerLayer').split('.').pop();
    if (layer !== 'NATransformerLayer') throw new Error(`kwarg layer=${String(kwargs.layer)} is not supported (vizoo implements NATransformerLayer)`);
    return single(
      new NATIsotropic({
        imgSize: kwSize(kwargs, 'img_size', 224),
        patchSize: kwNumber(kwargs, 'patch_size', 16),
        embedDim: kwNumber(kwargs, 'embed_dim', 384),
        depth: kwNumber(kwargs, 'depth', 12),
        numHeads: kwNumber(kwargs, 'num_heads', 12),
        mlpRatio: kwNumber(kwargs, 'mlp_ratio', 4),
        qkvBias: kwBool(kwargs, 'qkv_bias', true),
        qkScale: kwOptNumber(kwargs, 'qk_scale'),
        kernelSize: kwNumber(kwargs, 'kernel_size', 7),
        dilation: kwNumber(kwargs, 'dilation', 2),
        inChans: kwNumber(kwargs, 'in_chans', 3),
        numClasses: kwNumber(kwargs, 'num_classes', 1000),
        patchNorm: kwBool(kwargs, 'patch_norm', true),
        normEps: normLayerEps(kwargs.norm_layer, 1e-5),
      }),
    );
  },
  DINATS,
);

const asFloat = (t: tf.Tensor) => tf.cast(t, 'float32');

/** EET's qk_scale: `qk_scale or head_dim ** -0.5`. */
const qkScale = (kw: Record<string, unknown>) => kwOptNumber(kw, 'qk_scale');

register('Attention',
  ({ kwargs }) => {
    const m = new EETAttention(kwNumber(kwargs, 'dim'), kwNumber(kwargs, 'num_heads', 8), kwBool(kwargs, 'qkv_bias', false), qkScale(kwargs));
    return { module: m, run: ([x]) => { const { out, score } = m.forward(x!); return [out, score]; } };
  },
  EET,
);

/** EET `Block` (its norm_layer default is nn.LayerNorm; VisionTransformer builds it with eps 1e-6). */
register('Block',
  ({ kwargs }) => {
    const blk = eetBlock(kwargs);
    return { module: blk, run: ([x]) => { const { out, score } = blk.forward(x!); return [out, score]; } };
  },
  EET,
);

function eetBlock(kwargs: Record<string, unknown>): EETBlock {
  return new EETBlock(kwNumber(kwargs, 'dim'), kwNumber(kwargs, 'num_heads'), {
    mlpRatio: kwNumber(kwargs, 'mlp_ratio', 4),
    qkvBias: kwBool(kwargs, 'qkv_bias', false),
    qkScale: qkScale(kwargs),
    normEps: normLayerEps(kwargs.norm_layer, 1e-5),
  });
}

/**
 * The inline pruning of `VisionTransformer.forward` (PartSelect's topk + the gather), which is no module:
 * alone on (tokens, score) with kwarg k, or after a Block (block kwargs and prune_k) on its tokens, returning
 * the pruned tokens, the indices, the block output and its score. The kept count always comes from kwargs.
 */
register('forward',
  ({ kwargs }) => {
    if (kwargs.dim === undefined) {
      const k = kwNumber(kwargs, kwargs.k !== undefined ? 'k' : 'prune_k');
      return {
        run: ([x, score]) => {
          const { tokens, indices } = pruneTokens(x!, score!, k);
          return [tokens, asFloat(indices)];
        },
      };
    }
    const blk = eetBlock(kwargs);
    const k = kwNumber(kwargs, kwargs.prune_k !== undefined ? 'prune_k' : 'k');
    return {
      module: blk,
      run: ([x]) => {
        const { out, score } = blk.forward(x!);
        const { tokens, indices } = pruneTokens(out, score, k);
        return [tokens, asFloat(indices), out, score];
      },
    };
  },
  EET,
);

/** VisionTransformer / VisionTransformerTeacher: every constructor kwarg is read or refused. */
function eetModel(kwargs: Record<string, unknown>, student: boolean): EETViT {
  refuseKwargs(kwargs, { representation_size: 0, hybrid_backbone: 'None' });
  const depth = kwNumber(kwargs, 'depth', 12);
  return new EETViT({
    imgSize: kwSize(kwargs, 'img_size', 224),
    patchSize: kwSize(kwargs, 'patch_size', 16),
    inChans: kwNumber(kwargs, 'in_chans', 3),
    numClasses: kwNumber(kwargs, 'num_classes', 1000),
    hashBits: kwNumber(kwargs, 'hash_code', 16),
    embedDim: kwNumber(kwargs, 'embed_dim', 768),
    depth,
    numHeads: kwNumber(kwargs, 'num_heads', 12),
    mlpRatio: kwNumber(kwargs, 'mlp_ratio', 4),
    qkvBias: kwBool(kwargs, 'qkv_bias', true),
    qkScale: qkScale(kwargs),
    normEps: normLayerEps(kwargs.norm_layer, 1e-6),
    pruning: student ? eetStudentPruning(depth) : undefined,
  });
}

register('VisionTransformer',
  ({ kwargs }) => {
    const m = eetModel(kwargs, true);
    return {
      module: m,
      run: ([x]) => {
        const o = m.forwardAll(x!);
        return [o.logits, o.hash, ...o.keptIndices.map(asFloat)];
      },
    };
  },
  EET,
);

register('VisionTransformerTeacher',
  ({ kwargs }) => {
    const m = eetModel(kwargs, false);
    return {
      module: m,
      run: ([x]) => {
        const { logits, hash } = m.forwardHash(x!);
        return [logits, hash];
      },
    };
  },
  EET,
);
