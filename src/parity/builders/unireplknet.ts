/** UniRepLKNet classes of AILab-CVC/UniRepLKNet `unireplknet.py` (train and deploy forms). */
import { DilatedReparamBlock } from '../../blocks/dilated_reparam.js';
import { GRN } from '../../blocks/grn.js';
import { SEBlock } from '../../blocks/squeeze_excite.js';
import { UniRepLKNet, UniRepLKNetBlock } from '../../models/unireplknet.js';
import type { LayerModule } from '../../nn/module.js';
import { type ParityTarget, kwNumber, kwNumbers, registerParityBuilder } from '../registry.js';

const single = (m: LayerModule): ParityTarget => ({ module: m, run: ([x]) => m.forward(x!) });
const ARCH = 'unireplknet';
const deployOf = (kw: Record<string, unknown>) => kw.deploy === true;
/** layer_scale_init_value: a number, or null (no layer scale). */
const layerScale = (kw: Record<string, unknown>): number | null => (kw.layer_scale_init_value === null ? null : kwNumber(kw, 'layer_scale_init_value', 1e-6));

registerParityBuilder(ARCH, 'DilatedReparamBlock', ({ kwargs }) => single(new DilatedReparamBlock(kwNumber(kwargs, 'channels'), kwNumber(kwargs, 'kernel_size'), deployOf(kwargs))));
registerParityBuilder(ARCH, 'GRNwithNHWC', ({ kwargs }) => single(new GRN(kwNumber(kwargs, 'dim'), kwargs.use_bias !== false)));
registerParityBuilder(ARCH, 'SEBlock', ({ kwargs }) => single(new SEBlock(kwNumber(kwargs, 'input_channels'), kwNumber(kwargs, 'internal_neurons'))));
registerParityBuilder(ARCH, 'UniRepLKNetBlock', ({ kwargs }) =>
  single(
    new UniRepLKNetBlock(kwNumber(kwargs, 'dim'), kwNumber(kwargs, 'kernel_size'), {
      layerScaleInit: layerScale(kwargs),
      deploy: deployOf(kwargs),
      ffnFactor: kwNumber(kwargs, 'ffn_factor', 4),
    }),
  ),
);
registerParityBuilder(ARCH, 'UniRepLKNet', ({ kwargs }) => {
  const ks = kwargs.kernel_sizes;
  if (ks !== undefined && ks !== null && !(Array.isArray(ks) && ks.every((s) => Array.isArray(s) && s.every((k) => typeof k === 'number')))) {
    throw new Error(`kwarg 'kernel_sizes' must be a list of lists of numbers, got ${JSON.stringify(ks)}`);
  }
  if (kwargs.num_classes === null) throw new Error('UniRepLKNet with num_classes=None (downstream feature mode) is not a classifier; use features: true');
  return single(
    new UniRepLKNet({
      depths: kwNumbers(kwargs, 'depths', [3, 3, 27, 3]),
      dims: kwNumbers(kwargs, 'dims', [96, 192, 384, 768]),
      kernelSizes: (ks ?? undefined) as number[][] | undefined,
      inChans: kwNumber(kwargs, 'in_chans', 3),
      numClasses: kwNumber(kwargs, 'num_classes', 1000),
      layerScaleInit: layerScale(kwargs),
      headInitScale: kwNumber(kwargs, 'head_init_scale', 1),
      deploy: deployOf(kwargs),
    }),
  );
});
