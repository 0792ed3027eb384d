/**
 * LITv2 classes of ziplab/LITv2: the classification model (`classification/models/*.py`) and the
 * dense-prediction backbone (`detection/mmdet/...` and `segmentation/mmseg/.../backbones/litv2.py`), whose
 * blocks take the token grid (H, W) from the caller and run on any H x W (HiLo pads, DTM floors odd sizes).
 */
import { tf, type Tensor } from '../../tf.js';
import type { LayerModule } from '../../nn/module.js';
import { ConvFFNBlock, HiLo, HiLoBlock } from '../../blocks/hilo.js';
import { DTM } from '../../blocks/dtm.js';
import { LITv2, LITv2Dense, LitPatchEmbed, type LitV2Config } from '../../models/litv2.js';
import type { TensorSpec } from '../manifest.js';
import { tensorKey } from '../manifest.js';
import { type ParityContext, type ParityTarget, kwBool, kwNumber, kwNumbers, kwOptNumber, kwSize, normLayerEps, refuseKwargs, registerParityBuilder } from '../registry.js';

const CLS_ATTN = 'classification/models/attentions.py';
const CLS_BLOCKS = 'classification/models/blocks.py';
const CLS_PATCH = 'classification/models/patch_embed.py';
const CLS_MODEL = 'classification/models/litv2.py';
const DET = 'detection/mmdet/models/backbones/litv2.py';
const SEG = 'segmentation/mmseg/models/backbones/litv2.py';
const DENSE = [DET, SEG];

type Kw = Record<string, unknown>;

/**
 * The token grid of a case: the forward's H, W where given (the dense form's blk.H / blk.W or arguments),
 * else the constructor's input_resolution, else the square sqrt(N) the classification code assumes.
 */
function grid({ kwargs, forwardKwargs }: ParityContext, n: number): [number, number] {
  if (forwardKwargs.H !== undefined || forwardKwargs.W !== undefined) return [kwNumber(forwardKwargs, 'H'), kwNumber(forwardKwargs, 'W')];
  if (Array.isArray(kwargs.input_resolution)) return kwNumbers(kwargs, 'input_resolution') as [number, number];
  const s = Math.round(Math.sqrt(n));
  if (s * s !== n) throw new Error(`cannot infer a square grid from ${n} tokens (give forward arguments H and W)`);
  return [s, s];
}

const tokens = (map: Tensor) => tf.reshape(map, [map.shape[0]!, -1, map.shape[3]!]);

/** A module on NHWC maps called on (B, N, C) tokens of the case's grid. */
function onTokens(ctx: ParityContext, m: LayerModule, check?: (h: number, w: number) => void): ParityTarget {
  return {
    module: m,
    run: ([x]) =>
      tf.tidy(() => {
        const [b, n, c] = x!.shape as number[];
        const [h, w] = grid(ctx, n!);
        if (h * w !== n) throw new Error(`${n} tokens are not an ${h}x${w} grid`);
        check?.(h, w);
        return tokens(m.forward(tf.reshape(x!, [b!, h, w, c!])));
      }),
  };
}

/** The block kwargs of both forms; qkv_bias defaults to False in the classification blocks, True in the dense ones. */
function blockOptions(kw: Kw, qkvBiasDefault: boolean) {
  if (normLayerEps(kw.norm_layer, 1e-5) !== 1e-5) throw new Error(`kwarg norm_layer=${String(kw.norm_layer)} is not supported (LITv2 blocks use nn.LayerNorm)`);
  if (kw.act_layer != null && String(kw.act_layer).split('.').pop() !== 'GELU') throw new Error(`kwarg act_layer=${String(kw.act_layer)} is not supported (LITv2 blocks use nn.GELU)`);
  return {
    numHeads: kwNumber(kw, 'num_heads', 8),
    qkvBias: kwBool(kw, 'qkv_bias', qkvBiasDefault),
    qkScale: kwOptNumber(kw, 'qk_scale'),
    mlpRatio: kwNumber(kw, 'mlp_ratio', 4),
    windowSize: kwNumber(kw, 'local_ws', 1),
    alpha: kwNumber(kw, 'alpha', 0.5),
  };
}

const hilo = (kw: Kw) =>
  new HiLo(kwNumber(kw, 'dim'), { numHeads: kwNumber(kw, 'num_heads', 8), qkvBias: kwBool(kw, 'qkv_bias', false), qkScale: kwOptNumber(kw, 'qk_scale'), windowSize: kwNumber(kw, 'window_size', 2), alpha: kwNumber(kw, 'alpha', 0.5) });

for (const module of [CLS_ATTN, ...DENSE]) registerParityBuilder('', 'HiLo', (ctx) => onTokens(ctx, hilo(ctx.kwargs)), { module });

for (const [modules, qkvBias] of [
  [[CLS_BLOCKS], false],
  [DENSE, true],
] as const) {
  for (const module of modules) {
    registerParityBuilder('', 'Block', (ctx) => onTokens(ctx, new HiLoBlock(kwNumber(ctx.kwargs, 'dim'), blockOptions(ctx.kwargs, qkvBias))), { module });
    registerParityBuilder('', 'ConvFFNBlock', (ctx) => onTokens(ctx, new ConvFFNBlock(kwNumber(ctx.kwargs, 'dim'), blockOptions(ctx.kwargs, qkvBias))), { module });
  }
}

/** The classification DTM asserts an even input_resolution; the dense one floors odd sizes. */
registerParityBuilder(
  '',
  'DTM',
  (ctx) =>
    onTokens(ctx, new DTM(kwNumber(ctx.kwargs, 'dim')), (h, w) => {
      if (h % 2 || w % 2) throw new Error(`DTM: x size (${h}*${w}) are not even (the classification DTM's assertion)`);
    }),
  { module: CLS_PATCH },
);

/** An integer the official forward returns (a new H or W) as a tensor of the case's listed shape. */
function intOutput(value: number, spec: TensorSpec | undefined): Tensor {
  return tf.fill(spec?.shape ?? [], value);
}

for (const module of DENSE) {
  // forward(x, H, W) -> (tokens, new_H, new_W).
  registerParityBuilder(
    '',
    'DTM',
    (ctx) => {
      const m = new DTM(kwNumber(ctx.kwargs, 'dim'));
      const target = onTokens(ctx, m);
      return {
        module: m,
        run: (inputs) => {
          const out = target.run(inputs) as Tensor;
          const [h, w] = grid(ctx, inputs[0]!.shape[1]!).map((v) => Math.floor(v / 2));
          const spec = (i: number) => ctx.parityCase.outputs.find((o) => tensorKey(o) === `__output_${i}__`);
          return [out, intOutput(h!, spec(1)), intOutput(w!, spec(2))];
        },
      };
    },
    { module },
  );
  // NCHW image -> NCHW map (B, C, ceil(H/p), ceil(W/p)).
  registerParityBuilder(
    '',
    'PatchEmbed',
    ({ kwargs }) => {
      const m = new LitPatchEmbed(kwNumber(kwargs, 'patch_size', 4), kwNumber(kwargs, 'in_chans', 3), kwNumber(kwargs, 'embed_dim', 96), kwargs.norm_layer != null);
      return { module: m, run: ([x]) => m.forward(x!) };
    },
    { module },
  );
}

/** The classification PatchEmbed: only its own img_size, tokens (B, Ph*Pw, C) out. */
registerParityBuilder(
  '',
  'PatchEmbed',
  ({ kwargs }) => {
    const [ih, iw] = kwSize(kwargs, 'img_size', 224);
    const m = new LitPatchEmbed(kwNumber(kwargs, 'patch_size', 4), kwNumber(kwargs, 'in_chans', 3), kwNumber(kwargs, 'embed_dim', 96), kwargs.norm_layer != null);
    return {
      module: m,
      run: ([x]) => {
        const [, h, w] = x!.shape;
        if (h !== ih || w !== iw) throw new Error(`Input image size (${h}*${w}) doesn't match model (${ih}*${iw}).`);
        return tf.tidy(() => tokens(m.forward(x!)));
      },
    };
  },
  { module: CLS_PATCH },
);

/** The constructor kwargs both LITv2 forms share. */
function modelConfig(kw: Kw): LitV2Config {
  if (normLayerEps(kw.norm_layer, 1e-5) !== 1e-5) throw new Error(`kwarg norm_layer=${String(kw.norm_layer)} is not supported (LITv2 uses nn.LayerNorm)`);
  refuseKwargs(kw, { ape: false });
  return {
    embedDim: kwNumber(kw, 'embed_dim', 96),
    depths: kwNumbers(kw, 'depths', [2, 2, 6, 2]),
    numHeads: kwNumbers(kw, 'num_heads', [3, 6, 12, 24]),
    patchSize: kwNumber(kw, 'patch_size', 4),
    inChans: kwNumber(kw, 'in_chans', 3),
    mlpRatio: kwNumber(kw, 'mlp_ratio', 4),
    qkvBias: kwBool(kw, 'qkv_bias', true),
    qkScale: kwOptNumber(kw, 'qk_scale'),
    hasMsa: kwNumbers(kw, 'has_msa', [0, 0, 1, 1]),
    alpha: kwNumber(kw, 'alpha', 0.5),
    localWs: kwNumbers(kw, 'local_ws', [0, 0, 2, 1]),
    patchNorm: kwBool(kw, 'patch_norm', true),
  };
}

registerParityBuilder(
  '',
  'LITv2',
  ({ kwargs }) => {
    const [ih, iw] = kwSize(kwargs, 'img_size', 224);
    const m = new LITv2({ ...modelConfig(kwargs), numClasses: kwNumber(kwargs, 'num_classes', 1000) });
    return {
      module: m,
      run: ([x]: Tensor[]) => {
        // The classification PatchEmbed asserts the input size (vizoo's LITv2 itself takes any).
        const [, h, w] = x!.shape;
        if (h !== ih || w !== iw) throw new Error(`Input image size (${h}*${w}) doesn't match model (${ih}*${iw}).`);
        return m.forward(x!);
      },
    };
  },
  { module: CLS_MODEL },
);

for (const module of DENSE) {
  registerParityBuilder(
    '',
    'LITv2',
    ({ kwargs }) => {
      const m = new LITv2Dense({
        ...modelConfig(kwargs),
        outIndices: kwargs.out_indices === undefined ? undefined : kwNumbers(kwargs, 'out_indices'),
        normFirst: module === SEG,
      });
      return { module: m, run: ([x]) => m.forward(x!) };
    },
    { module },
  );
}
