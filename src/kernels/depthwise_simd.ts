/**
 * Depthwise convolution as one WebAssembly SIMD kernel on tfjs-wasm (./simd/kernels.ts), for inference:
 * tfjs-wasm's own depthwise conv runs large and dilated kernels (VAN's 7x7 dilation 3, UniRepLKNet's
 * 13x13) at ~1.7 GFLOP/s and needs one padding for all four sides. This one takes stride and dilation
 * together, visits only the taps that land in the image (no padded copy, no trimmed filter) and adds the
 * bias and ReLU in the same pass. Registered on the wasm backend only; training and the other backends keep
 * tfjs's kernels.
 */
import { tf, type Tensor } from '../tf.js';
import { registerInferenceKernel, inferenceShortcut } from './inference.js';
import { ioFor, type KernelArgs, type TensorInfo } from './js_io.js';
import { DEPTHWISE_BIAS, DEPTHWISE_RELU, simdOn } from './simd/kernels.js';

export const DEPTHWISE_SIMD = 'VizooDepthwiseConv2dSimd';

interface DepthwiseAttrs {
  strides: [number, number];
  dilations: [number, number];
  /** Zero padding before rows and columns (after is implied by the output size). */
  padBefore: [number, number];
  outSize: [number, number];
  relu: boolean;
}

function depthwiseKernel({ inputs, backend, attrs }: KernelArgs<DepthwiseAttrs>): TensorInfo {
  const { x, filter, bias } = inputs;
  const simd = simdOn(backend)!;
  const [n, h, w, c] = x!.shape as [number, number, number, number];
  const [kh, kw] = filter!.shape as [number, number];
  const [oh, ow] = attrs.outSize;
  const y = ioFor(backend).outputs([[n, oh, ow, c]], false).done()[0]!;
  const flags = (bias ? DEPTHWISE_BIAS : 0) | (attrs.relu ? DEPTHWISE_RELU : 0);
  const at = (t: TensorInfo) => simd.offset(t);
  simd.kernels.depthwiseConv2d(at(x!), at(filter!), bias ? at(bias) : 0, at(y), n, h, w, c, oh, ow, kh, kw, ...attrs.strides, ...attrs.dilations, ...attrs.padBefore, flags);
  return y;
}

registerInferenceKernel(DEPTHWISE_SIMD, depthwiseKernel, ['wasm']);

export interface DepthwiseSimdOptions {
  stride: [number, number];
  dilation: [number, number];
  /** Symmetric zero padding per axis (PyTorch's `padding`). */
  padding: [number, number];
  bias?: Tensor;
  relu: boolean;
}

/**
 * x (n, h, w, c) conv a (kh, kw, c, 1) filter in the SIMD kernel, or null where it does not apply (gradient
 * being recorded, not tfjs-wasm, no WebAssembly SIMD, a channel multiplier, an empty output).
 */
export function depthwiseConvSimd(x: Tensor, filter: Tensor, o: DepthwiseSimdOptions): Tensor | null {
  const [, h, w, c] = x.shape as [number, number, number, number];
  const [kh, kw, fc, multiplier] = filter.shape as [number, number, number, number];
  if (!inferenceShortcut(DEPTHWISE_SIMD) || x.dtype !== 'float32' || fc !== c || multiplier !== 1) return null;
  if (o.bias && o.bias.size !== c) return null;
  const out = (len: number, k: number, i: 0 | 1) => Math.floor((len + 2 * o.padding[i] - o.dilation[i] * (k - 1) - 1) / o.stride[i]) + 1;
  const outSize: [number, number] = [out(h, kh, 0), out(w, kw, 1)];
  if (outSize[0] <= 0 || outSize[1] <= 0 || !simdOn(tf.backend())) return null;
  const inputs: Record<string, Tensor> = { x, filter };
  if (o.bias) inputs.bias = o.bias;
  const attrs = { strides: o.stride, dilations: o.dilation, padBefore: o.padding, outSize, relu: o.relu };
  return tf.engine().runKernel(DEPTHWISE_SIMD, inputs as unknown as tf.NamedTensorMap, attrs as unknown as tf.NamedAttrMap) as Tensor;
}
