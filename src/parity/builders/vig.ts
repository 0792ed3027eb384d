/**
 * ViG classes of hustvl/ViG `classification/models/vig.py` (architecture `vig`) and `vig_h.py`
 * (architecture `vig_h`), and the GLA ops of its vendored flash-linear-attention (function cases).
 */
import { glaBidirectional, glaForward, glaReverse } from '../../kernels/gated_linear_attention.js';
import { GatedLinearAttention, type GatedLinearAttentionOptions } from '../../blocks/gated_linear_attention.js';
import { GLABlock, V1PatchEmbed, V2PatchEmbed, ViG, glaMlp } from '../../models/vig.js';
import { HierViG, VSSBlock, type VigHAct, type VigHNorm, gMlp } from '../../models/vig_h.js';
import { tf, type Tensor } from '../../tf.js';
import type { LayerModule } from '../../nn/module.js';
import { type ParityTarget, kwBool, kwNumber, kwNumbers, kwOptNumber as optNumber, kwSize, kwString, refuseKwargs, registerParityBuilder } from '../registry.js';

const single = (m: LayerModule): ParityTarget => ({ module: m, run: ([x]) => m.forward(x!) });

type Kw = Record<string, unknown>;

function swishOnly(kw: Kw, name: string): void {
  const act = kwString(kw, name, 'swish');
  if (act !== 'swish' && act !== 'silu') throw new Error(`${name}=${act} is not supported (swish only)`);
}

// ---- GLA ops (inputs (B, H, L, D)) ----
registerParityBuilder('vig', 'gla_recurrent_fwd', () => ({ run: ([q, k, v, g]) => glaForward(q!, k!, v!, g!) }));
registerParityBuilder('vig', 'gla_recurrent_rev', () => ({ run: ([q, k, v, g]) => glaReverse(q!, k!, v!, g!) }));
registerParityBuilder('vig', 'bid_fused_recurrent_gla', () => ({
  run: ([q, k, v, g]) => {
    // gk stacked on the batch axis: rows 0..B-1 forward gates, B..2B-1 backward gates.
    const [gf, gb] = tf.split(g!, 2, 0);
    return glaBidirectional(q!, k!, v!, gf!, gb!);
  },
}));

// ---- plain ViG (vig.py) ----
function glaOptions(kw: Kw, dflt: { actInConv: boolean; outAct: boolean }): GatedLinearAttentionOptions {
  refuseKwargs(kw, { rope_mode: 'none', use_dirpe: false });
  swishOnly(kw, 'gate_fn');
  return {
    expandK: kwNumber(kw, 'expand_k', 1.0),
    expandV: kwNumber(kw, 'expand_v', 2.0),
    normEps: kwNumber(kw, 'layernorm_eps', 1e-5),
    gateLogitNormalizer: kwNumber(kw, 'gate_logit_normalizer', 16),
    gateLowRankDim: kwNumber(kw, 'gate_low_rank_dim', 16),
    clampMin: optNumber(kw, 'clamp_min'),
    useActInConv: kwBool(kw, 'use_act_in_conv', dflt.actInConv),
    useOutAct: kwBool(kw, 'use_out_act', dflt.outAct),
  };
}

const grid = (fk: Kw): [number, number] => {
  const hw = kwNumbers(fk, 'patch_resolution');
  return [hw[0]!, hw[1] ?? hw[0]!];
};

registerParityBuilder('vig', 'GatedLinearAttention', ({ kwargs, forwardKwargs }) => {
  const m = new GatedLinearAttention(kwNumber(kwargs, 'd_model', 1024), kwNumber(kwargs, 'num_heads', 4), {
    ...glaOptions(kwargs, { actInConv: true, outAct: false }),
    useBiasInDwconv: kwBool(kwargs, 'use_bias_in_dwconv', false),
    evalOutputScale: 0.5,
  });
  if (forwardKwargs.token_position !== undefined && forwardKwargs.token_position !== null) throw new Error('token_position (cls token) is not supported by the eval branch');
  return { module: m, run: ([x]) => m.forwardTokens(x!, grid(forwardKwargs)) };
});

registerParityBuilder('vig', 'GLAMLP', ({ kwargs }) => {
  swishOnly(kwargs, 'hidden_act');
  const ratio = optNumber(kwargs, 'hidden_ratio') ?? 4;
  return single(glaMlp(kwNumber(kwargs, 'hidden_size'), optNumber(kwargs, 'intermediate_size'), ratio));
});

registerParityBuilder('vig', 'GLABlock', ({ kwargs, forwardKwargs }) => {
  const cfg = (kwargs.config ?? {}) as Kw;
  if (kwBool(kwargs, 'is_attn', false)) throw new Error('is_attn=True (softmax attention block) is not supported');
  if (!kwBool(cfg, 'use_swiglu', true)) throw new Error('use_swiglu=False (plain MLP) is not supported');
  refuseKwargs(cfg, { rope_mode: 'none', use_dirpe: false });
  swishOnly(cfg, 'hidden_act');
  const m = new GLABlock(
    {
      dim: kwNumber(cfg, 'hidden_size'),
      numHeads: kwNumber(cfg, 'num_attention_heads'),
      expandK: kwNumber(cfg, 'expand_k', 0.5),
      expandV: kwNumber(cfg, 'expand_v', 1),
      useOutAct: kwBool(cfg, 'use_out_act', false),
      useActInConv: kwBool(cfg, 'use_act_in_conv', true),
      useBiasInDwconv: kwBool(cfg, 'use_bias_in_dwconv', false),
      rmsNormEps: kwNumber(cfg, 'rms_norm_eps', 1e-6),
      intermediateSize: optNumber(cfg, 'intermediate_size'),
      initValues: optNumber(cfg, 'init_values'),
      clampMin: optNumber(cfg, 'clamp_min'),
    },
    kwNumber(kwargs, 'drop_path', 0),
  );
  if (forwardKwargs.token_position !== undefined && forwardKwargs.token_position !== null) throw new Error('token_position (cls token) is not supported by the eval branch');
  return { module: m, run: ([x]) => m.forward(x!, grid(forwardKwargs)) };
});

const tokensOf = (map: Tensor): Tensor => tf.reshape(map, [map.shape[0]!, map.shape[1]! * map.shape[2]!, map.shape[3]!]);

registerParityBuilder('vig', 'V2PatchEmbed', ({ kwargs }) => {
  const m = new V2PatchEmbed(kwNumber(kwargs, 'patch_size', 16), kwNumber(kwargs, 'in_chans', 3), kwNumber(kwargs, 'embed_dim', 768), {
    bias: kwBool(kwargs, 'use_bias_in_patch', true),
    actInPatch: kwBool(kwargs, 'use_act_in_patch', false),
  });
  return { module: m, run: ([x]) => tf.tidy(() => tokensOf(m.forward(x!))) };
});

registerParityBuilder('vig', 'V1PatchEmbed', ({ kwargs }) => {
  const m = new V1PatchEmbed(kwNumber(kwargs, 'patch_size', 16), kwNumber(kwargs, 'stride', 16), kwNumber(kwargs, 'in_chans', 3), kwNumber(kwargs, 'embed_dim', 768));
  return { module: m, run: ([x]) => tf.tidy(() => tokensOf(m.forward(x!))) };
});

registerParityBuilder('vig', 'ViG', ({ kwargs }) => {
  if (kwBool(kwargs, 'if_cls_token', true) || kwBool(kwargs, 'use_middle_cls_token', false)) throw new Error('cls tokens are not supported (the official eval branch cannot run them)');
  if (!kwBool(kwargs, 'use_swiglu', false)) throw new Error('use_swiglu=False (plain MLP) is not supported');
  if (!kwBool(kwargs, 'if_abs_pos_embed', true)) throw new Error('if_abs_pos_embed=False is not supported');
  refuseKwargs(kwargs, { classification_mode: 'avgpool', if_rc_pe: false, use_msg: false, use_lower_bound: false, use_dirpe: false, rope_mode: 'none', scan_mode: 'default' });
  swishOnly(kwargs, 'hidden_act');
  const version = kwString(kwargs, 'patch_embed_version', 'v1');
  if (version !== 'v1' && version !== 'v2') throw new Error(`patch_embed_version=${version} is not supported`);
  return single(
    new ViG({
      imgSize: kwSize(kwargs, 'img_size', 224),
      patchSize: kwNumber(kwargs, 'patch_size', 16),
      stride: kwNumber(kwargs, 'stride', 16),
      depth: kwNumber(kwargs, 'depth', 12),
      numHeads: kwNumber(kwargs, 'num_heads', 2),
      embedDim: kwNumber(kwargs, 'embed_dim', 192),
      inChans: kwNumber(kwargs, 'channels', 3),
      numClasses: kwNumber(kwargs, 'num_classes', 1000),
      dropRate: kwNumber(kwargs, 'drop_rate', 0),
      dropPathRate: kwNumber(kwargs, 'drop_path_rate', 0.1),
      patchEmbedVersion: version,
      useBiasInPatch: kwBool(kwargs, 'use_bias_in_patch', true),
      useActInPatch: kwBool(kwargs, 'use_act_in_patch', false),
      expandK: kwNumber(kwargs, 'expand_k', 0.5),
      expandV: kwNumber(kwargs, 'expand_v', 1),
      useActInConv: kwBool(kwargs, 'use_act_in_conv', true),
      useOutAct: kwBool(kwargs, 'use_out_act', false),
      useBiasInDwconv: kwBool(kwargs, 'use_bias_in_dwconv', false),
      initValues: optNumber(kwargs, 'init_values'),
    }),
  );
});

// ---- ViG-H (vig_h.py), NCHW in the fixtures, NHWC here ----
function normKind(kw: Kw, name: string, dflt: string): VigHNorm {
  const n = kwString(kw, name, dflt).toLowerCase();
  if (n !== 'ln' && n !== 'ln2d' && n !== 'bn') throw new Error(`${name}=${n} is not supported`);
  return n;
}

function actKind(kw: Kw, name: string): VigHAct {
  const a = kwString(kw, name, 'gelu').toLowerCase();
  if (!['gelu', 'silu', 'relu', 'sigmoid'].includes(a)) throw new Error(`${name}=${a} is not supported`);
  return a as VigHAct;
}

registerParityBuilder('vig_h', 'GLA2D', ({ kwargs }) => {
  return single(
    new GatedLinearAttention(kwNumber(kwargs, 'd_model', 1024), kwNumber(kwargs, 'num_heads', 4), {
      ...glaOptions(kwargs, { actInConv: true, outAct: false }),
      evalOutputScale: 1,
    }),
  );
});

registerParityBuilder('vig_h', 'gMlp', ({ kwargs }) => {
  const inF = kwNumber(kwargs, 'in_features');
  return single(gMlp(inF, optNumber(kwargs, 'out_features') ?? inF));
});

registerParityBuilder('vig_h', 'VSSBlock', ({ kwargs }) => {
  const cfg = (kwargs.config ?? {}) as Kw;
  refuseKwargs(cfg, { rope_mode: 'none' });
  swishOnly(kwargs, 'hidden_act');
  return single(
    new VSSBlock(
      {
        dim: kwNumber(kwargs, 'hidden_dim'),
        numHeads: kwNumber(kwargs, 'num_head', 3),
        norm: normKind(kwargs, 'norm_layer', 'ln'),
        gmlp: kwBool(kwargs, 'gmlp', false),
        mlpRatio: kwNumber(kwargs, 'mlp_ratio', 4),
        mlpAct: actKind(kwargs, 'mlp_act_layer'),
        postNorm: kwBool(kwargs, 'post_norm', false),
        expandK: kwNumber(kwargs, 'expand_k', 0.5),
        expandV: kwNumber(kwargs, 'expand_v', 1),
        useOutAct: kwBool(kwargs, 'use_out_act', false),
        useActInConv: kwBool(cfg, 'use_act_in_conv', true),
        normEps: kwNumber(cfg, 'rms_norm_eps', 1e-6),
      },
      kwNumber(kwargs, 'drop_path', 0),
    ),
  );
});

registerParityBuilder('vig_h', 'HierViG', ({ kwargs }) => {
  refuseKwargs(kwargs, { rope_mode: 'none' });
  swishOnly(kwargs, 'hidden_act');
  const down = kwString(kwargs, 'downsample_version', 'v2');
  if (down !== 'v2' && down !== 'v3') throw new Error(`downsample_version=${down} is not supported`);
  const pe = kwString(kwargs, 'patchembed_version', 'v1');
  if (pe !== 'v1' && pe !== 'v2') throw new Error(`patchembed_version=${pe} is not supported`);
  const dims = typeof kwargs.dims === 'number' ? kwargs.dims : kwNumbers(kwargs, 'dims', [96, 192, 384, 768]);
  return single(
    new HierViG({
      patchSize: kwNumber(kwargs, 'patch_size', 4),
      inChans: kwNumber(kwargs, 'in_chans', 3),
      numClasses: kwNumber(kwargs, 'num_classes', 1000),
      depths: kwNumbers(kwargs, 'depths', [2, 2, 9, 2]),
      dims,
      numHeads: kwNumbers(kwargs, 'num_heads', [3, 6, 12, 24]),
      expandK: kwNumber(kwargs, 'expand_k', 0.5),
      expandV: kwNumber(kwargs, 'expand_v', 1),
      useOutAct: kwBool(kwargs, 'use_out_act', false),
      useActInConv: kwBool(kwargs, 'use_act_in_conv', true),
      mlpRatio: kwNumber(kwargs, 'mlp_ratio', 4),
      mlpAct: actKind(kwargs, 'mlp_act_layer'),
      gmlp: kwBool(kwargs, 'gmlp', false),
      dropPathRate: kwNumber(kwargs, 'drop_path_rate', 0.1),
      patchNorm: kwBool(kwargs, 'patch_norm', true),
      norm: normKind(kwargs, 'norm_layer', 'LN'),
      downsampleVersion: down,
      patchEmbedVersion: pe,
    }),
  );
});
