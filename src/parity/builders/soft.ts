/** SOFT classes of fudan-zvg/SOFT (models/softmax_free_transformer.py, models/softmax_free_vision_transformer.py). */
import { tf, type Tensor } from '../../tf.js';
import type { LayerModule } from '../../nn/module.js';
import { PvtBlock } from '../../blocks/attention.js';
import { SoftmaxFreeAttention, SoftmaxFreeTransformerBlock } from '../../blocks/soft_attention.js';
import { SoftPatchEmbed, SoftmaxFreeVisionTransformer } from '../../models/soft.js';
import { type ParityContext, type ParityTarget, kwNumber, kwNumbers, normLayerEps, registerParityBuilder } from '../registry.js';

const TRANSFORMER = 'models/softmax_free_transformer.py';
const VIT = 'models/softmax_free_vision_transformer.py';

function hw({ forwardKwargs }: ParityContext): [number, number] {
  const { H, W } = forwardKwargs;
  if (typeof H !== 'number' || typeof W !== 'number') throw new Error('this case needs forward arguments H and W');
  return [H, W];
}

/** A module on NHWC maps called on (B, H*W, C) tokens. */
function onTokens(ctx: ParityContext, m: LayerModule): ParityTarget {
  return {
    module: m,
    run: ([x]) =>
      tf.tidy(() => {
        const [b, , c] = x!.shape as number[];
        const [h, w] = hw(ctx);
        const y = m.forward(tf.reshape(x!, [b!, h, w, c!]));
        return tf.reshape(y, [b!, h * w, -1]);
      }),
  };
}

registerParityBuilder(
  '',
  'SoftmaxFreeAttention',
  (ctx) => {
    const k = ctx.kwargs;
    const m = new SoftmaxFreeAttention(kwNumber(k, 'dim'), kwNumber(k, 'num_heads'), kwNumber(k, 'ratio'), kwNumber(k, 'conv_size'), kwNumber(k, 'max_iter', 20));
    return onTokens(ctx, m);
  },
  { module: TRANSFORMER },
);

for (const [cls, normalized] of [
  ['SoftmaxFreeTransformerBlock', false],
  ['SoftmaxFreeNormTransformerBlock', true],
] as const) {
  registerParityBuilder(
    '',
    cls,
    (ctx) => {
      const k = ctx.kwargs;
      const m = new SoftmaxFreeTransformerBlock(kwNumber(k, 'dim'), kwNumber(k, 'num_heads'), kwNumber(k, 'ratio'), kwNumber(k, 'conv_size', 3), {
        dropPath: kwNumber(k, 'drop_path', 0),
        maxIter: kwNumber(k, 'max_iter', 20),
        normalized,
      });
      return onTokens(ctx, m);
    },
    { module: TRANSFORMER },
  );
}

registerParityBuilder(
  '',
  'PatchEmbed',
  ({ kwargs }) => {
    const m = new SoftPatchEmbed(kwNumber(kwargs, 'kernel_size', 7) === 7, kwNumber(kwargs, 'in_chans', 3), kwNumber(kwargs, 'embed_dim', 768));
    return {
      module: m,
      run: ([x]: Tensor[]) =>
        tf.tidy(() => {
          const y = m.forward(x!);
          return tf.reshape(y, [y.shape[0]!, -1, y.shape[3]!]);
        }),
    };
  },
  { module: VIT },
);

registerParityBuilder(
  '',
  'Block',
  (ctx) => {
    const k = ctx.kwargs;
    const m = new PvtBlock(kwNumber(k, 'dim'), kwNumber(k, 'num_heads', 8), {
      mlpRatio: kwNumber(k, 'mlp_ratio', 4),
      qkvBias: (k.qkv_bias as boolean | undefined) ?? false,
      qkScale: (k.qk_scale as number | null | undefined) ?? null,
      srRatio: kwNumber(k, 'sr_ratio', 1),
      normEps: normLayerEps(k.norm_layer, 1e-5),
    });
    const [h, w] = hw(ctx);
    return { module: m, run: ([x]: Tensor[]) => m.forward(x!, h, w) };
  },
  { module: VIT },
);

for (const [cls, normalized] of [
  ['SoftmaxFreeVisionTransformer', false],
  ['SoftmaxFreeNormVisionTransformer', true],
] as const) {
  registerParityBuilder(
    '',
    cls,
    ({ kwargs }) => {
      const m = new SoftmaxFreeVisionTransformer({
        embedDims: kwNumbers(kwargs, 'embed_dims', [64, 128, 256, 512]),
        numHeads: kwNumbers(kwargs, 'num_heads', [1, 2, 4, 8]),
        depths: kwNumbers(kwargs, 'depths', [3, 4, 6, 3]),
        mlpRatios: kwNumbers(kwargs, 'mlp_ratios', [4, 4, 4, 4]),
        srRatios: kwNumbers(kwargs, 'sr_ratios', [8, 4, 2, 1]),
        qkvBias: (kwargs.qkv_bias as boolean | undefined) ?? false,
        qkScale: (kwargs.qk_scale as number | null | undefined) ?? null,
        inChans: kwNumber(kwargs, 'in_chans', 3),
        numClasses: kwNumber(kwargs, 'num_classes', 1000),
        newtonMaxIter: kwNumber(kwargs, 'newton_max_iter', 20),
        normEps: normLayerEps(kwargs.norm_layer, 1e-5),
        normalized,
      });
      return { module: m, run: ([x]: Tensor[]) => m.forward(x!) };
    },
    { module: VIT },
  );
}
