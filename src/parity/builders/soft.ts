/** SOFT classes of fudan-zvg/SOFT (models/softmax_free_transformer.py, models/softmax_free_vision_transformer.py). */
import { tf, type Tensor } from '../../tf.js';
import type { LayerModule } from '../../nn/module.js';
import { PvtBlock } from '../../blocks/attention.js';
import { SoftmaxFreeAttention, SoftmaxFreeTransformer, SoftmaxFreeTransformerBlock } from '../../blocks/soft_attention.js';
import { SoftPatchEmbed, SoftmaxFreeVisionTransformer } from '../../models/soft.js';
import { type ParityContext, type ParityTarget, kwBool, kwNumber, kwNumbers, kwOptNumber, kwSize, kwString, normLayerEps, registerParityBuilder } from '../registry.js';

const TRANSFORMER = 'models/softmax_free_transformer.py';
const VIT = 'models/softmax_free_vision_transformer.py';

type Kw = Record<string, unknown>;

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

/** kernel_method: 'torch' and 'cuda' compute the same kernel (the official code asserts one of them). */
function maxIter(k: Kw): number {
  const method = kwString(k, 'kernel_method', 'cuda');
  if (method !== 'torch' && method !== 'cuda') throw new Error(`kwarg kernel_method=${method}: the official code accepts torch or cuda`);
  return kwNumber(k, 'max_iter', 20);
}

// The attention, the transformer and its block wrapper, each plain and SOFT-Norm (the *Norm* classes).
for (const normalized of [false, true]) {
  const norm = normalized ? 'Norm' : '';
  registerParityBuilder(
    '',
    `SoftmaxFree${norm}Attention`,
    (ctx) => {
      const k = ctx.kwargs;
      return onTokens(ctx, new SoftmaxFreeAttention(kwNumber(k, 'dim'), kwNumber(k, 'num_heads'), kwNumber(k, 'ratio'), kwNumber(k, 'conv_size'), maxIter(k), normalized));
    },
    { module: TRANSFORMER },
  );
  for (const [cls, Block] of [
    [`SoftmaxFree${norm}Transformer`, SoftmaxFreeTransformer],
    [`SoftmaxFree${norm}TransformerBlock`, SoftmaxFreeTransformerBlock],
  ] as const) {
    registerParityBuilder(
      '',
      cls,
      (ctx) => {
        const k = ctx.kwargs;
        // The transformer's conv_size is positional and required; the block wrapper defaults it to 3.
        const convSize = Block === SoftmaxFreeTransformer ? kwNumber(k, 'conv_size') : kwNumber(k, 'conv_size', 3);
        const m = new Block(kwNumber(k, 'dim'), kwNumber(k, 'num_heads'), kwNumber(k, 'ratio'), convSize, { dropPath: kwNumber(k, 'drop_path', 0), maxIter: maxIter(k), normalized });
        return onTokens(ctx, m);
      },
      { module: TRANSFORMER },
    );
  }
}

registerParityBuilder(
  '',
  'PatchEmbed',
  ({ kwargs }) => {
    // Only kernel_size picks the convs (7: the three-conv stem, else one stride-2 conv); img_size and
    // patch_size just gate construction as the official assertion does.
    const [ih, iw] = kwSize(kwargs, 'img_size', 224);
    const [ph, pw] = kwSize(kwargs, 'patch_size', 16);
    if (ih % ph || iw % pw) throw new Error(`SOFT PatchEmbed: img_size ${ih}x${iw} should be divided by patch_size ${ph}x${pw} (the official assertion)`);
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
      qkvBias: kwBool(k, 'qkv_bias', false),
      qkScale: kwOptNumber(k, 'qk_scale'),
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
        imgSize: kwSize(kwargs, 'img_size', 224),
        patchSize: kwNumber(kwargs, 'patch_size', 16),
        embedDims: kwNumbers(kwargs, 'embed_dims', [64, 128, 256, 512]),
        numHeads: kwNumbers(kwargs, 'num_heads', [1, 2, 4, 8]),
        depths: kwNumbers(kwargs, 'depths', [3, 4, 6, 3]),
        mlpRatios: kwNumbers(kwargs, 'mlp_ratios', [4, 4, 4, 4]),
        srRatios: kwNumbers(kwargs, 'sr_ratios', [8, 4, 2, 1]),
        qkvBias: kwBool(kwargs, 'qkv_bias', false),
        qkScale: kwOptNumber(kwargs, 'qk_scale'),
        inChans: kwNumber(kwargs, 'in_chans', 3),
        numClasses: kwNumber(kwargs, 'num_classes', 1000),
        newtonMaxIter: maxIter({ ...kwargs, max_iter: kwargs.newton_max_iter }),
        normEps: normLayerEps(kwargs.norm_layer, 1e-5),
        normalized,
      });
      return { module: m, run: ([x]: Tensor[]) => m.forward(x!) };
    },
    { module: VIT },
  );
}
