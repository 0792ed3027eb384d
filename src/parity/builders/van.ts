/** VAN classes of Visual-Attention-Network/VAN-Classification `models/van.py`. */
import { LKA, SpatialAttention } from '../../blocks/lka.js';
import { ConvMlp, DWConv } from '../../blocks/conv_mlp.js';
import { OverlapPatchEmbed } from '../../blocks/patch_embed.js';
import { VAN, vanBlock } from '../../models/van.js';
import type { LayerModule } from '../../nn/module.js';
import { type ParityTarget, kwNumber, kwNumbers, normLayerEps, registerParityBuilder } from '../registry.js';

const single = (m: LayerModule): ParityTarget => ({ module: m, run: ([x]) => m.forward(x!) });

registerParityBuilder('VAN', 'DWConv', ({ kwargs }) => single(new DWConv(kwNumber(kwargs, 'dim', 768))));
registerParityBuilder('VAN', ['LKA', 'AttentionModule'], ({ kwargs }) => single(new LKA(kwNumber(kwargs, 'dim'))));
registerParityBuilder('VAN', ['Attention', 'SpatialAttention'], ({ kwargs }) => {
  const d = kwNumber(kwargs, 'd_model');
  return single(new SpatialAttention(d, new LKA(d)));
});
registerParityBuilder('VAN', 'Mlp', ({ kwargs }) => {
  const inF = kwNumber(kwargs, 'in_features');
  const hidden = (kwargs.hidden_features as number | null | undefined) ?? inF;
  const out = (kwargs.out_features as number | null | undefined) ?? inF;
  return single(new ConvMlp(inF, hidden, out));
});
registerParityBuilder('VAN', 'Block', ({ kwargs }) => single(vanBlock(kwNumber(kwargs, 'dim'), kwNumber(kwargs, 'mlp_ratio', 4))));
registerParityBuilder('VAN', 'OverlapPatchEmbed', ({ kwargs }) =>
  single(new OverlapPatchEmbed(kwNumber(kwargs, 'patch_size', 7), kwNumber(kwargs, 'stride', 4), kwNumber(kwargs, 'in_chans', 3), kwNumber(kwargs, 'embed_dim', 768))),
);
registerParityBuilder('VAN', 'VAN', ({ kwargs }) => {
  if (kwNumber(kwargs, 'num_stages', 4) !== 4) throw new Error('VAN needs num_stages=4 (the official head reads embed_dims[3])');
  return single(
    new VAN({
      embedDims: kwNumbers(kwargs, 'embed_dims', [64, 128, 256, 512]),
      depths: kwNumbers(kwargs, 'depths', [3, 4, 6, 3]),
      mlpRatios: kwNumbers(kwargs, 'mlp_ratios', [4, 4, 4, 4]),
      numClasses: kwNumber(kwargs, 'num_classes', 1000),
      inChans: kwNumber(kwargs, 'in_chans', 3),
      normEps: normLayerEps(kwargs.norm_layer, 1e-5),
    }),
  );
});
