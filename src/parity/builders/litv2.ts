/** LITv2 classes of ziplab/LITv2 (classification models and the detection backbone's HiLo). */
import { tf, type Tensor } from '../../tf.js';
import type { LayerModule } from '../../nn/module.js';
import { ConvFFNBlock, HiLo, HiLoBlock } from '../../blocks/hilo.js';
import { DTM } from '../../blocks/dtm.js';
import { LITv2 } from '../../models/litv2.js';
import { type ParityContext, type ParityTarget, kwNumber, kwNumbers, registerParityBuilder } from '../registry.js';

const CLS_ATTN = 'classification/models/attentions.py';
const CLS_BLOCKS = 'classification/models/blocks.py';
const DET = 'detection/mmdet/models/backbones/litv2.py';

/**
 * The token grid of a case: forward H, W where given, else the constructor's input_resolution, else the
 * square sqrt(N) the classification code assumes.
 */
function grid({ kwargs, forwardKwargs }: ParityContext, n: number): [number, number] {
  if (typeof forwardKwargs.H === 'number' && typeof forwardKwargs.W === 'number') return [forwardKwargs.H, forwardKwargs.W];
  if (Array.isArray(kwargs.input_resolution)) return kwNumbers(kwargs, 'input_resolution') as [number, number];
  const s = Math.round(Math.sqrt(n));
  if (s * s !== n) throw new Error(`cannot infer a square grid from ${n} tokens`);
  return [s, s];
}

/** A module on NHWC maps called on (B, N, C) tokens. */
function onTokens(ctx: ParityContext, m: LayerModule): ParityTarget {
  return {
    module: m,
    run: ([x]) =>
      tf.tidy(() => {
        const [b, n, c] = x!.shape as number[];
        const [h, w] = grid(ctx, n!);
        const y = m.forward(tf.reshape(x!, [b!, h, w, c!]));
        return tf.reshape(y, [b!, -1, y.shape[3]!]);
      }),
  };
}

function hiloOptions(kw: Record<string, unknown>) {
  return {
    numHeads: kwNumber(kw, 'num_heads', 8),
    qkvBias: (kw.qkv_bias as boolean | undefined) ?? false,
    qkScale: (kw.qk_scale as number | null | undefined) ?? null,
  };
}

for (const module of [CLS_ATTN, DET]) {
  registerParityBuilder(
    '',
    'HiLo',
    (ctx) =>
      onTokens(ctx, new HiLo(kwNumber(ctx.kwargs, 'dim'), { ...hiloOptions(ctx.kwargs), windowSize: kwNumber(ctx.kwargs, 'window_size', 2), alpha: kwNumber(ctx.kwargs, 'alpha', 0.5) })),
    { module },
  );
}

registerParityBuilder(
  '',
  'Block',
  (ctx) =>
    onTokens(
      ctx,
      new HiLoBlock(kwNumber(ctx.kwargs, 'dim'), {
        ...hiloOptions(ctx.kwargs),
        mlpRatio: kwNumber(ctx.kwargs, 'mlp_ratio', 4),
        windowSize: kwNumber(ctx.kwargs, 'local_ws', 1),
        alpha: kwNumber(ctx.kwargs, 'alpha', 0.5),
      }),
    ),
  { module: CLS_BLOCKS },
);

registerParityBuilder('', 'ConvFFNBlock', (ctx) => onTokens(ctx, new ConvFFNBlock(kwNumber(ctx.kwargs, 'dim'), { mlpRatio: kwNumber(ctx.kwargs, 'mlp_ratio', 4) })), {
  module: CLS_BLOCKS,
});

registerParityBuilder('', 'DTM', (ctx) => onTokens(ctx, new DTM(kwNumber(ctx.kwargs, 'dim'))), { module: 'classification/models/patch_embed.py' });

registerParityBuilder(
  '',
  'LITv2',
  ({ kwargs }) => {
    const m = new LITv2({
      embedDim: kwNumber(kwargs, 'embed_dim', 96),
      depths: kwNumbers(kwargs, 'depths', [2, 2, 6, 2]),
      numHeads: kwNumbers(kwargs, 'num_heads', [3, 6, 12, 24]),
      patchSize: kwNumber(kwargs, 'patch_size', 4),
      inChans: kwNumber(kwargs, 'in_chans', 3),
      numClasses: kwNumber(kwargs, 'num_classes', 1000),
      mlpRatio: kwNumber(kwargs, 'mlp_ratio', 4),
      qkvBias: (kwargs.qkv_bias as boolean | undefined) ?? true,
      qkScale: (kwargs.qk_scale as number | null | undefined) ?? null,
      hasMsa: kwNumbers(kwargs, 'has_msa', [0, 0, 1, 1]),
      alpha: kwNumber(kwargs, 'alpha', 0.5),
      localWs: kwNumbers(kwargs, 'local_ws'),
    });
    return { module: m, run: ([x]: Tensor[]) => m.forward(x!) };
  },
  { module: 'classification/models/litv2.py' },
);
