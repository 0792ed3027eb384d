/**
 * Convolution gradients as compositions of forward ops, with dilation:
 *  - the filter gradient sums, per kernel tap, the (strided, dilated) input window times dy: one matmul per
 *    tap for a full conv, one elementwise product + reduction per tap for a depthwise conv;
 *  - the input gradient correlates the stride-upsampled, padded dy with the spatially flipped filter.
 * They back the wasm kernels tfjs-backend-wasm lacks (Conv2DBackpropFilter, DepthwiseConv2dNativeBackprop*),
 * and the Conv2D / DepthwiseConv2dNative gradients for dilation > 1, which tfjs refuses on every backend.
 */
import { tf, type Tensor, type Tensor4D } from '../tf.js';
import { stridedWindow } from '../nn/functional.js';

type Pad = 'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];

export interface ConvGeometry {
  strides: [number, number];
  dilations: [number, number];
  /** Padding of the forward conv: top, bottom, left, right. */
  pads: [number, number, number, number];
}

const pair = (v: number | number[]): [number, number] => (typeof v === 'number' ? [v, v] : [v[0]!, v[1] ?? v[0]!]);

/** Resolves tfjs conv attributes into explicit geometry (same rules as the forward kernels). */
export function convGeometry(
  xShape: number[],
  filterShape: number[],
  strides: number | number[],
  pad: Pad,
  dilations: number | number[] = 1,
  roundingMode?: 'floor' | 'round' | 'ceil',
  depthwise = false,
): ConvGeometry {
  const info = tf.backend_util.computeConv2DInfo(xShape as [number, number, number, number], filterShape as [number, number, number, number], pair(strides), pair(dilations), pad, roundingMode, depthwise);
  const p = info.padInfo;
  return { strides: pair(strides), dilations: pair(dilations), pads: [p.top, p.bottom, p.left, p.right] };
}

/** Pads (positive) or crops (negative) H and W. */
function padOrCrop(x: Tensor4D, top: number, bottom: number, left: number, right: number): Tensor4D {
  const y = tf.pad(x, [[0, 0], [Math.max(0, top), Math.max(0, bottom)], [Math.max(0, left), Math.max(0, right)], [0, 0]]);
  if (top >= 0 && bottom >= 0 && left >= 0 && right >= 0) return y;
  const [b, h, w, c] = y.shape;
  const t = Math.max(0, -top);
  const l = Math.max(0, -left);
  return tf.slice(y, [0, t, l, 0], [b, h - t - Math.max(0, -bottom), w - l - Math.max(0, -right), c]);
}

/** The input window seen by tap (i, j) at every output position: (B, Ho, Wo, C). */
function tapWindow(xp: Tensor4D, i: number, j: number, g: ConvGeometry, ho: number, wo: number): Tensor4D {
  return stridedWindow(xp, [i * g.dilations[0], j * g.dilations[1]], g.strides, [ho, wo]);
}

function paddedInput(x: Tensor4D, g: ConvGeometry, kh: number, kw: number, ho: number, wo: number): Tensor4D {
  const [top, , left] = g.pads;
  const [sh, sw] = g.strides;
  const [dh, dw] = g.dilations;
  // Pad so every tap window is in range; rows past the last window never contribute.
  const needH = (ho - 1) * sh + (kh - 1) * dh + 1;
  const needW = (wo - 1) * sw + (kw - 1) * dw + 1;
  return padOrCrop(x, top, needH - x.shape[1] - top, left, needW - x.shape[2] - left);
}

const bothGreaterThanOne = (g: ConvGeometry) => (g.strides[0] > 1 || g.strides[1] > 1) && (g.dilations[0] > 1 || g.dilations[1] > 1);

/**
 * dL/dW of conv2d(x, W) for W of shape (KH, KW, Cin, Cout), as one convolution: with Cin as the batch and the
 * batch as channels, dy (Ho, Wo, B, Cout) is the filter, applied with dilation = forward stride and
 * stride = forward dilation; the output (Cin, KH, KW, Cout) is the gradient up to a transpose.
 */
export function conv2dFilterGrad(x: Tensor4D, dy: Tensor4D, filterShape: number[], g: ConvGeometry): Tensor4D {
  return tf.tidy(() => {
    const [kh, kw, cin, cout] = filterShape as [number, number, number, number];
    const [, ho, wo] = dy.shape;
    const xp = paddedInput(x, g, kh, kw, ho, wo);
    if (!bothGreaterThanOne(g)) {
      const xi = tf.transpose(xp, [3, 1, 2, 0]) as Tensor4D;
      const f = tf.transpose(dy, [1, 2, 0, 3]) as Tensor4D;
      return tf.transpose(tf.conv2d(xi, f, g.dilations, 'valid', 'NHWC', g.strides), [1, 2, 0, 3]) as Tensor4D;
    }
    // Strided and dilated at once (tfjs convs allow only one): one matmul per tap.
    const dy2 = tf.reshape(dy, [-1, cout]);
    const taps: Tensor[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        // (Cin, N) @ (N, Cout); an explicit transpose is ~10x faster than transposeA on wasm.
        const win = tf.transpose(tf.reshape(tapWindow(xp, i, j, g, ho, wo), [-1, cin]));
        taps.push(tf.matMul(win, dy2));
      }
    }
    return tf.reshape(tf.stack(taps), [kh, kw, cin, cout]) as Tensor4D;
  });
}

/** dL/dW of depthwiseConv2d(x, W) for W of shape (KH, KW, C, M): one depthwise conv over batch x channels (see conv2dFilterGrad). */
export function depthwiseFilterGrad(x: Tensor4D, dy: Tensor4D, filterShape: number[], g: ConvGeometry): Tensor4D {
  return tf.tidy(() => {
    const [kh, kw, c, m] = filterShape as [number, number, number, number];
    const [b, ho, wo] = dy.shape;
    const xp = paddedInput(x, g, kh, kw, ho, wo);
    if (!bothGreaterThanOne(g)) {
      const [, hp, wp] = xp.shape;
      const xi = tf.reshape(tf.transpose(xp, [1, 2, 0, 3]), [1, hp, wp, b * c]) as Tensor4D;
      const f = tf.reshape(tf.transpose(tf.reshape(dy, [b, ho, wo, c * m]), [1, 2, 0, 3]), [ho, wo, b * c, m]) as Tensor4D;
      const out = tf.depthwiseConv2d(xi, f, g.dilations, 'valid', 'NHWC', g.strides);
      return tf.sum(tf.reshape(out, [kh, kw, b, c, m]), 2) as Tensor4D;
    }
    const dy3 = tf.reshape(dy, [-1, c, m]);
    const taps: Tensor[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const win = tf.reshape(tapWindow(xp, i, j, g, ho, wo), [-1, c, 1]);
        taps.push(tf.sum(tf.mul(win, dy3), 0));
      }
    }
    return tf.reshape(tf.stack(taps), [kh, kw, c, m]) as Tensor4D;
  });
}

/** dy upsampled by the stride (zeros between), then padded so a VALID correlation with the flipped filter gives dx. */
function upsampledPaddedDy(dy: Tensor4D, inShape: number[], kh: number, kw: number, g: ConvGeometry): Tensor4D {
  const [b, ho, wo, c] = dy.shape;
  const [sh, sw] = g.strides;
  const [dh, dw] = g.dilations;
  let up = dy;
  if (sh > 1 || sw > 1) {
    const z = tf.pad(tf.reshape(dy, [b, ho, 1, wo, 1, c]), [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]]);
    up = tf.slice(tf.reshape(z, [b, ho * sh, wo * sw, c]), [0, 0, 0, 0], [b, (ho - 1) * sh + 1, (wo - 1) * sw + 1, c]) as Tensor4D;
  }
  const [top, , left] = g.pads;
  const beforeH = (kh - 1) * dh - top;
  const beforeW = (kw - 1) * dw - left;
  const afterH = inShape[1]! + (kh - 1) * dh - beforeH - up.shape[1];
  const afterW = inShape[2]! + (kw - 1) * dw - beforeW - up.shape[2];
  return padOrCrop(up, beforeH, afterH, beforeW, afterW);
}

/** Rotates a filter by 180 degrees in H and W: reversing the flattened (KH*KW) axis (a gather; wasm's Reverse is slow). */
function flipHW(w: Tensor4D): Tensor4D {
  const [kh, kw, a, b] = w.shape;
  if (kh * kw === 1) return w;
  const idx = tf.tensor1d(Array.from({ length: kh * kw }, (_, i) => kh * kw - 1 - i), 'int32');
  return tf.reshape(tf.gather(tf.reshape(w, [kh * kw, a, b]), idx), [kh, kw, a, b]) as Tensor4D;
}

/** dL/dx of conv2d(x, W) for x of shape inShape. */
export function conv2dInputGrad(inShape: number[], dy: Tensor4D, filter: Tensor4D, g: ConvGeometry): Tensor4D {
  return tf.tidy(() => {
    const [kh, kw] = filter.shape;
    const flipped = tf.transpose(flipHW(filter), [0, 1, 3, 2]) as Tensor4D;
    return tf.conv2d(upsampledPaddedDy(dy, inShape, kh, kw, g), flipped, 1, 'valid', 'NHWC', g.dilations);
  });
}

/** dL/dx of depthwiseConv2d(x, W) for x of shape inShape. */
export function depthwiseInputGrad(inShape: number[], dy: Tensor4D, filter: Tensor4D, g: ConvGeometry): Tensor4D {
  return tf.tidy(() => {
    const [kh, kw, c, m] = filter.shape;
    const flipped = tf.reshape(flipHW(filter), [kh, kw, c * m, 1]) as Tensor4D;
    const full = tf.depthwiseConv2d(upsampledPaddedDy(dy, inShape, kh, kw, g), flipped, 1, 'valid', 'NHWC', g.dilations);
    if (m === 1) return full;
    const [b, h, w] = full.shape;
    return tf.sum(tf.reshape(full, [b, h, w, c, m]), 4) as Tensor4D;
  });
}

interface ConvAttrs {
  strides: number | [number, number];
  pad: Pad;
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  dataFormat?: string;
  filterShape?: number[];
  inputShape?: number[];
}

const isOne = (d: number | number[] | undefined) => d === undefined || (typeof d === 'number' ? d === 1 : d.every((v) => v === 1));

let gradientsRegistered = false;

/** Conv2D / DepthwiseConv2dNative gradients that handle dilation (stock ones refuse it); stock kernels when dilation is 1. */
export function registerDilationAwareConvGradients(): void {
  if (gradientsRegistered) return;
  gradientsRegistered = true;
  tf.registerGradient({
    kernelName: 'Conv2D',
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy, saved, attrs) => {
      const [x, w] = saved as [Tensor4D, Tensor4D];
      const a = attrs as unknown as ConvAttrs;
      const g = convGeometry(x.shape, w.shape, a.strides, a.pad, a.dilations, a.dimRoundingMode);
      const d4 = dy as Tensor4D;
      if (isOne(a.dilations)) {
        // tfjs-backend-wasm's own Conv2DBackpropInput is ~20x slower than a forward conv at stride 1.
        const composite = tf.getBackend() === 'wasm' && isOne(a.strides);
        return {
          x: () => (composite ? conv2dInputGrad(x.shape, d4, w, g) : tf.conv2dTranspose(d4, w, x.shape, a.strides, a.pad as 'valid', a.dimRoundingMode)),
          filter: () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy: d4 }, { strides: a.strides, pad: a.pad, dataFormat: 'NHWC', dimRoundingMode: a.dimRoundingMode, filterShape: w.shape } as never) as Tensor,
        };
      }
      return { x: () => conv2dInputGrad(x.shape, d4, w, g), filter: () => conv2dFilterGrad(x, d4, w.shape, g) };
    },
  });
  tf.registerGradient({
    kernelName: 'DepthwiseConv2dNative',
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy, saved, attrs) => {
      const [x, w] = saved as [Tensor4D, Tensor4D];
      const a = attrs as unknown as ConvAttrs;
      const g = convGeometry(x.shape, w.shape, a.strides, a.pad, a.dilations, a.dimRoundingMode, true);
      const d4 = dy as Tensor4D;
      if (isOne(a.dilations)) {
        const k = { strides: a.strides, pad: a.pad, dimRoundingMode: a.dimRoundingMode, dilations: a.dilations ?? 1 };
        return {
          x: () => tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy: d4, filter: w }, { ...k, inputShape: x.shape } as never) as Tensor,
          filter: () => tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy: d4 }, { ...k, filterShape: w.shape } as never) as Tensor,
        };
      }
      return { x: () => depthwiseInputGrad(x.shape, d4, w, g), filter: () => depthwiseFilterGrad(x, d4, w.shape, g) };
    },
  });
}

let wasmRegistered = false;

/** Registers the composites as the wasm kernels tfjs-backend-wasm lacks. */
export function registerWasmConvBackpropKernels(): void {
  if (wasmRegistered) return;
  wasmRegistered = true;
  const reg = (kernelName: string, fn: (inputs: Record<string, Tensor>, attrs: ConvAttrs) => Tensor) =>
    tf.registerKernel({
      kernelName,
      backendName: 'wasm',
      // A kernel may return a Tensor; the engine then uses it as the output as-is.
      kernelFunc: ({ inputs, attrs }) => tf.tidy(() => fn(inputs as unknown as Record<string, Tensor>, attrs as unknown as ConvAttrs)) as never,
    });
  reg('Conv2DBackpropFilter', ({ x, dy }, a) => {
    const g = convGeometry(x!.shape, a.filterShape!, a.strides, a.pad, 1, a.dimRoundingMode);
    return conv2dFilterGrad(x as Tensor4D, dy as Tensor4D, a.filterShape!, g);
  });
  reg('DepthwiseConv2dNativeBackpropFilter', ({ x, dy }, a) => {
    const g = convGeometry(x!.shape, a.filterShape!, a.strides, a.pad, a.dilations, a.dimRoundingMode, true);
    return depthwiseFilterGrad(x as Tensor4D, dy as Tensor4D, a.filterShape!, g);
  });
  reg('DepthwiseConv2dNativeBackpropInput', ({ dy, filter }, a) => {
    const g = convGeometry(a.inputShape!, filter!.shape, a.strides, a.pad, a.dilations, a.dimRoundingMode, true);
    return depthwiseInputGrad(a.inputShape!, dy as Tensor4D, filter as Tensor4D, g);
  });
}
