// Stands in for sharp in the GPU benchmark's bundle: the benchmark decodes no images.
export default function sharp() {
  throw new Error('sharp is not part of the bench/gpu bundle');
}
