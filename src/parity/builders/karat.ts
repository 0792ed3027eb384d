/** KArAt classes of the shared naive reference `karat_ref.py` (no official code exists). */
import type { Tensor } from '../../tf.js';
import { FourierKArAtOperator, KArAtAttention, KArAtBlock } from '../../blocks/karat.js';
import { VisionTransformerKArAt } from '../../models/karat.js';
import { kwBool, kwNumber, kwSize, normLayerEps, registerParityBuilder } from '../registry.js';

const REF = 'karat_ref.py (naive)';

const operatorOptions = (k: Record<string, unknown>) => ({
  rank: kwNumber(k, 'rank', 12),
  gridSize: kwNumber(k, 'grid_size', 3),
  l1Proj: kwBool(k, 'l1_proj', false),
});

registerParityBuilder(
  '',
  'FourierKArAtOperator',
  ({ kwargs }) => {
    const m = new FourierKArAtOperator(kwNumber(kwargs, 'num_heads'), kwNumber(kwargs, 'num_tokens'), operatorOptions(kwargs));
    return { module: m, run: ([x]: Tensor[]) => m.forward(x!) };
  },
  { module: REF },
);

registerParityBuilder(
  '',
  'KArAtAttention',
  ({ kwargs: k }) => {
    const m = new KArAtAttention(kwNumber(k, 'dim'), kwNumber(k, 'num_heads'), kwNumber(k, 'num_tokens'), { ...operatorOptions(k), qkvBias: kwBool(k, 'qkv_bias', false) });
    return { module: m, run: ([x]: Tensor[]) => m.forward(x!) };
  },
  { module: REF },
);

registerParityBuilder(
  '',
  'Block',
  ({ kwargs: k }) => {
    const m = new KArAtBlock(kwNumber(k, 'dim'), kwNumber(k, 'num_heads'), kwNumber(k, 'num_tokens'), {
      ...operatorOptions(k),
      mlpRatio: kwNumber(k, 'mlp_ratio', 4),
      qkvBias: kwBool(k, 'qkv_bias', false),
      normEps: normLayerEps(k.norm_layer, 1e-6),
    });
    return { module: m, run: ([x]: Tensor[]) => m.forward(x!) };
  },
  { module: REF },
);

registerParityBuilder(
  '',
  'VisionTransformerKArAt',
  ({ kwargs: k }) => {
    const mode = (k.mode as string | undefined) ?? 'blockwise';
    if (mode !== 'blockwise' && mode !== 'universal') throw new Error(`unknown KArAt mode '${mode}'`);
    const m = new VisionTransformerKArAt({
      imgSize: kwSize(k, 'img_size', 224),
      patchSize: kwSize(k, 'patch_size', 16),
      inChans: kwNumber(k, 'in_chans', 3),
      numClasses: kwNumber(k, 'num_classes', 1000),
      embedDim: kwNumber(k, 'embed_dim', 192),
      depth: kwNumber(k, 'depth', 12),
      numHeads: kwNumber(k, 'num_heads', 3),
      mlpRatio: kwNumber(k, 'mlp_ratio', 4),
      qkvBias: kwBool(k, 'qkv_bias', true),
      ...operatorOptions(k),
      mode,
      normEps: normLayerEps(k.norm_layer, 1e-6),
    });
    return { module: m, run: ([x]: Tensor[]) => m.forward(x!) };
  },
  { module: REF },
);
