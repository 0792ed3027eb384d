/** BEVANet classes of maomao0819/BEVANet `models/{conv,LSKA,FS,EVAN,PPM,FB,model_utils,BEVANet}.py`. */
import { DWConv, PWConv } from '../../blocks/conv_mlp.js';
import { CKS, LSKA, SDLSKA, type LskaMode } from '../../blocks/lska.js';
import { PagFM, SegmentHead, makeLayer } from '../../blocks/pidnet.js';
import { BEVANetCls, BEVANetSeg, BGAF, DLKPPM, type BEVANetConfig, type GatingKind, bevanetMlp, bevanetSpatialAttention, evanBlock } from '../../models/bevanet.js';
import type { LayerModule } from '../../nn/module.js';
import { type ParityTarget, kwNumber, kwNumbers, kwOptNumber, kwSize, registerParityBuilder } from '../registry.js';

const ARCH = 'BEVANet';
const single = (m: LayerModule): ParityTarget => ({ module: m, run: ([x]) => m.forward(x!) });

/** The class named by a dotted kwarg ("models.LSKA.SDLSKA" -> "SDLSKA"), checked against what vizoo has. */
function kwClass<T extends string>(kw: Record<string, unknown>, name: string, dflt: T, allowed: readonly T[]): T {
  const v = kw[name] ?? dflt;
  const cls = String(v).split('.').pop() as T;
  if (!allowed.includes(cls)) throw new Error(`kwarg '${name}': ${String(v)} is not supported (vizoo has ${allowed.join(', ')})`);
  return cls;
}

const gatingOf = (kw: Record<string, unknown>, dflt: GatingKind = 'SDLSKA') => kwClass<GatingKind>(kw, 'lka', dflt, ['SDLSKA', 'LSKA']);

registerParityBuilder(ARCH, 'DWConv', ({ kwargs }) =>
  single(
    new DWConv(kwNumber(kwargs, 'dim', 768), {
      kernelSize: kwSize(kwargs, 'kernel_size', 3),
      stride: kwSize(kwargs, 'stride', 1),
      padding: kwSize(kwargs, 'padding', 1),
      dilation: kwSize(kwargs, 'dilation', 1),
      bias: kwargs.bias !== false,
    }),
  ),
);
registerParityBuilder(ARCH, 'PWConv', ({ kwargs }) => {
  const inC = kwNumber(kwargs, 'in_channels', 768);
  return single(new PWConv(inC, kwOptNumber(kwargs, 'out_channels') ?? inC, kwargs.bias !== false));
});
registerParityBuilder(ARCH, 'CKS', ({ kwargs }) => {
  const m = new CKS(kwNumber(kwargs, 'dim'));
  return { module: m, run: ([s, h, v]) => m.forward(s!, h!, v!) };
});
registerParityBuilder(ARCH, 'SDLSKA', ({ kwargs }) => single(new SDLSKA(kwNumber(kwargs, 'dim'), kwNumber(kwargs, 'kernel_size'))));
registerParityBuilder(ARCH, 'LSKA', ({ kwargs }) => {
  const mode = String(kwargs.mode ?? 'a');
  if (!['a', 'h', 'v'].includes(mode)) throw new Error(`LSKA mode '${mode}' is not one of a, h, v`);
  return single(new LSKA(kwNumber(kwargs, 'dim'), kwNumber(kwargs, 'kernel_size'), mode as LskaMode));
});
registerParityBuilder(ARCH, 'SpatialAttention', ({ kwargs }) =>
  single(bevanetSpatialAttention(kwNumber(kwargs, 'd_model'), kwNumber(kwargs, 'kernel_size'), gatingOf(kwargs))),
);
registerParityBuilder(ARCH, 'MLP', ({ kwargs }) => {
  const inF = kwNumber(kwargs, 'in_features');
  return single(bevanetMlp(inF, kwOptNumber(kwargs, 'hidden_features') ?? inF, kwOptNumber(kwargs, 'out_features') ?? inF));
});
registerParityBuilder(ARCH, 'EVAN', ({ kwargs }) =>
  single(evanBlock(kwNumber(kwargs, 'dim', 512), kwNumber(kwargs, 'kernel_size', 35), kwNumber(kwargs, 'mlp_expand', 4), gatingOf(kwargs))),
);
registerParityBuilder(ARCH, 'DLKPPM', ({ kwargs }) =>
  single(new DLKPPM(kwNumber(kwargs, 'inplanes'), kwNumber(kwargs, 'branch_planes'), kwNumber(kwargs, 'outplanes'))),
);
registerParityBuilder(ARCH, 'BGAF', ({ kwargs }) => {
  const m = new BGAF(kwNumber(kwargs, 'in_channels'), kwNumber(kwargs, 'out_channels'));
  return { module: m, run: ([p, i, d]) => m.forward(p!, i!, d!) };
});
registerParityBuilder(ARCH, 'PagFM', ({ kwargs }) => {
  const m = new PagFM(kwNumber(kwargs, 'in_channels'), kwNumber(kwargs, 'mid_channels'), kwargs.after_relu === true, kwargs.with_channel === true);
  return { module: m, run: ([x, y]) => m.forward(x!, y!) };
});
registerParityBuilder(ARCH, '_make_layer', ({ kwargs }) => {
  const block = kwClass(kwargs, 'block', 'BasicBlock', ['BasicBlock', 'Bottleneck'] as const);
  return single(makeLayer(block, kwNumber(kwargs, 'inplanes'), kwNumber(kwargs, 'planes'), kwNumber(kwargs, 'n_blocks'), kwNumber(kwargs, 'stride', 1)));
});
registerParityBuilder(ARCH, 'segmenthead', ({ kwargs }) =>
  single(new SegmentHead(kwNumber(kwargs, 'inplanes'), kwNumber(kwargs, 'interplanes'), kwNumber(kwargs, 'outplanes'), kwargs.scale_factor == null ? null : kwNumber(kwargs, 'scale_factor'))),
);

/** The backbone kwargs shared by BEVANet_SEG and BEVANet_CLS_32 (class defaults as in the official code). */
function backboneConfig(kw: Record<string, unknown>): BEVANetConfig {
  kwClass(kw, 'dwconv', 'DWConv', ['DWConv']);
  kwClass(kw, 'pwconv', 'PWConv', ['PWConv']);
  return {
    planes: kwNumber(kw, 'planes', 64),
    nBlocks: kwNumbers(kw, 'n_blocks', [2, 2, 4, 4, 2]),
    semanticKernels: kwNumbers(kw, 'semantic_kernel_size', [35, 35, 35]),
    detailKernels: kwNumbers(kw, 'detail_kernel_size', [23, 23]),
    mlpExpand: kwNumbers(kw, 'mlp_expand', [4, 4]),
    gating: gatingOf(kw),
  };
}

registerParityBuilder(ARCH, 'BEVANet_SEG', ({ kwargs }) => {
  kwClass(kwargs, 'ppm', 'DLKPPM', ['DLKPPM']);
  kwClass(kwargs, 'fb', 'BGAF', ['BGAF']);
  const m = new BEVANetSeg({
    ...backboneConfig(kwargs),
    numClasses: kwNumber(kwargs, 'num_classes', 19),
    ppmPlanes: kwNumber(kwargs, 'ppm_planes', 96),
    headPlanes: kwNumber(kwargs, 'head_planes', 128),
    segAugment: kwargs.seg_augment !== false,
  });
  return {
    module: m,
    run: ([x]) => {
      const out = m.forwardOutputs(x!);
      if (!m.segAugment) return out.main;
      // The official list [aux, main, boundary]; __output__ is the main map (TEST.OUTPUT_INDEX = 1).
      return { __output_0__: out.aux!, __output_1__: out.main, __output_2__: out.boundary!, __output__: out.main };
    },
  };
});
registerParityBuilder(ARCH, 'BEVANet_CLS_32', ({ kwargs }) =>
  single(new BEVANetCls({ ...backboneConfig(kwargs), numClasses: kwNumber(kwargs, 'num_classes', 1000), lastPlanes: kwNumber(kwargs, 'last_planes', 2048) })),
);
