/**
 * The seed papers' attention mechanisms: TransNormer's NormLinearAttention / NormLocalAttention
 * (OpenNLPLab/lra), Based's LinearAttention (HazyResearch/based) and Lightning Attention-2's TnlAttention
 * (OpenNLPLab/lightning-attention). Every value comes from the case's kwargs, with the official defaults.
 */
import { tf, type Tensor } from '../../tf.js';
import { NormLinearAttention, NormLocalAttention, type LrpeOptions } from '../../blocks/transnormer.js';
import { BasedLinearAttention, type BasedFeatureMap } from '../../blocks/based.js';
import { TnlAttention } from '../../blocks/lightning_attention.js';
import { kwBool, kwNumber, kwString, registerParityBuilder } from '../registry.js';

type Kwargs = Record<string, unknown>;

/** lra's classes read self-attention inputs only: kdim / vdim other than d_model cannot run. */
function checkSelfAttention(k: Kwargs, dModel: number): void {
  for (const name of ['kdim', 'vdim']) {
    const v = k[name];
    if (v !== undefined && v !== null && v !== dModel) throw new Error(`kwarg '${name}' ${JSON.stringify(v)} differs from d_model ${dModel}: the module attends a sequence to itself`);
  }
}

const lrpeOptions = (k: Kwargs): LrpeOptions => ({
  coreMatrix: kwNumber(k, 'core_matrix', 1),
  pMatrix: kwNumber(k, 'p_matrix', 1),
  thetaType: kwString(k, 'theta_type', 'a'),
  thetaLearned: kwBool(k, 'theta_learned', false),
});

/** The kwargs both lra attention classes read alike (their defaults differ only in act_fun and norm_type). */
const transNormerOptions = (k: Kwargs, dflt: { actFun: string; normType: string }) => ({
  bias: kwBool(k, 'bias', true),
  actFun: kwString(k, 'act_fun', dflt.actFun),
  normType: kwString(k, 'norm_type', dflt.normType),
  causal: kwBool(k, 'causal', false),
  useLrpe: kwBool(k, 'use_lrpe', false),
  lrpe: lrpeOptions(k),
  negativeSlope: kwNumber(k, 'negative_slope', 0.1),
});

/** lra's `U.Transpose` wrapper: with transposed=True the first output (only) is (B, C, N) in and out. */
function transposable(k: Kwargs, run: (x: Tensor) => Tensor | Tensor[]): (inputs: Tensor[]) => Tensor[] {
  const t = kwBool(k, 'transposed', false);
  const flip = (x: Tensor) => tf.transpose(x, [0, 2, 1]);
  return ([x]) =>
    tf.tidy(() => {
      const out = run(t ? flip(x!) : x!);
      const [y, ...rest] = Array.isArray(out) ? out : [out];
      return [t ? flip(y!) : y!, ...rest];
    });
}

const TRANSNORMER = 'TransNormer';

registerParityBuilder(
  TRANSNORMER,
  'NormLinearAttention',
  ({ kwargs: k }) => {
    const d = kwNumber(k, 'd_model');
    checkSelfAttention(k, d);
    const m = new NormLinearAttention(d, kwNumber(k, 'n_heads'), transNormerOptions(k, { actFun: 'elu', normType: 'layernorm' }));
    return { module: m, run: transposable(k, (x) => m.forward(x)) };
  },
  { module: 'src/models/sequence/x_attention/norm_linear_attention.py' },
);

registerParityBuilder(
  TRANSNORMER,
  'NormLocalAttention',
  ({ kwargs: k }) => {
    const d = kwNumber(k, 'd_model');
    checkSelfAttention(k, d);
    const m = new NormLocalAttention(d, kwNumber(k, 'n_heads'), {
      ...transNormerOptions(k, { actFun: 'relu', normType: 'gatedrmsnorm' }),
      chunkSize: kwNumber(k, 'chunk_size', 32),
      useSoftmax: kwBool(k, 'use_softmax', false),
      addBiasKv: kwBool(k, 'add_bias_kv', false),
      dropout: kwNumber(k, 'dropout', 0),
    });
    return {
      module: m,
      run: transposable(k, (x) => {
        const { out, weights } = m.forwardWithWeights(x);
        return [out, weights];
      }),
    };
  },
  { module: 'src/models/sequence/x_attention/norm_local_attention.py' },
);

/** Based's `feature_map` kwarg: an instance recorded as {class, input_dim}; the default (the class itself) fails there. */
function basedFeatureMap(k: Kwargs): BasedFeatureMap {
  const fm = k.feature_map as { class?: unknown; input_dim?: unknown } | undefined;
  if (!fm || typeof fm !== 'object') throw new Error("kwarg 'feature_map' must name a feature map instance, e.g. {class: 'TaylorExp', input_dim: 16} (the official default, the class itself, fails in forward)");
  if (fm.class === 'TaylorExp') return { kind: 'taylor_exp', inputDim: kwNumber(fm as Kwargs, 'input_dim') };
  if (fm.class === 'FeatureMap') return { kind: 'identity' };
  throw new Error(`feature map class ${JSON.stringify(fm.class)} is not implemented in vizoo (TaylorExp and FeatureMap are)`);
}

registerParityBuilder(
  'Based',
  'LinearAttention',
  ({ kwargs: k }) => {
    const impl = kwString(k, 'parallel_implementation', 'quadratic');
    // 'linear' is the same sums through a CUDA kernel; the fla and ThunderKittens paths differ (eps, norms).
    if (impl !== 'quadratic' && impl !== 'linear') throw new Error(`parallel_implementation '${impl}' is not implemented in vizoo ('quadratic' and 'linear' are)`);
    const headDim = k.head_dim === undefined || k.head_dim === null ? null : kwNumber(k, 'head_dim');
    const m = new BasedLinearAttention(kwNumber(k, 'd_model'), {
      featureDim: kwNumber(k, 'feature_dim', 16),
      headDim,
      numHeads: kwNumber(k, 'num_heads', 16),
      eps: kwNumber(k, 'eps', 1e-12),
      featureMap: basedFeatureMap(k),
    });
    return { module: m, run: ([x]) => m.forward(x!) };
  },
  { module: 'based/models/mixers/linear_attention.py' },
);

registerParityBuilder(
  'LightningAttention2',
  'TnlAttention',
  ({ kwargs: k }) => {
    // norm_type and causal are accepted and ignored by the official class (always LayerNorm, always causal).
    const m = new TnlAttention(kwNumber(k, 'embed_dim'), kwNumber(k, 'num_heads'), {
      bias: kwBool(k, 'bias', false),
      layerIdx: kwNumber(k, 'layer_idx', 0),
      numLayers: kwNumber(k, 'num_layers', 12),
    });
    return { module: m, run: ([x]) => m.forward(x!) };
  },
  { module: 'examples/module/tnl_attn.py' },
);
