/**
 * timm's `resample_abs_pos_embed` (timm/layers/pos_embed.py) on host data: absolute position embeddings
 * (1, prefix + H*W, C) learned for an H x W token grid, resampled to another grid when weights trained at one
 * input size are loaded at another. Prefix tokens (cls, ...) are kept apart unchanged; the grid is resized
 * with PyTorch's antialiased bicubic interpolation (timm's default), separably, in float64.
 */
import { type Pair, bicubicAntialiasMatrix } from './functional.js';

export function resampleAbsPosEmbed(data: Float32Array, dim: number, oldGrid: Pair, newGrid: Pair, prefixTokens = 1): Float32Array {
  const [oh, ow] = oldGrid;
  const [nh, nw] = newGrid;
  if (data.length !== (prefixTokens + oh * ow) * dim) {
    throw new Error(`resampleAbsPosEmbed: ${data.length / dim} tokens of width ${dim} are not ${prefixTokens} prefix tokens + a ${oh}x${ow} grid`);
  }
  const mh = bicubicAntialiasMatrix(oh, nh);
  const mw = bicubicAntialiasMatrix(ow, nw);
  const grid = data.subarray(prefixTokens * dim);
  // Columns first: (oh, ow, C) -> (oh, nw, C); then rows: -> (nh, nw, C).
  const cols = new Float64Array(oh * nw * dim);
  for (let h = 0; h < oh; h++)
    for (let j = 0; j < nw; j++)
      for (let w = 0; w < ow; w++) {
        const k = mw[j * ow + w]!;
        if (k === 0) continue;
        const src = (h * ow + w) * dim;
        const dst = (h * nw + j) * dim;
        for (let c = 0; c < dim; c++) cols[dst + c]! += k * grid[src + c]!;
      }
  const out = new Float32Array((prefixTokens + nh * nw) * dim);
  out.set(data.subarray(0, prefixTokens * dim));
  const acc = new Float64Array(dim);
  for (let i = 0; i < nh; i++)
    for (let j = 0; j < nw; j++) {
      acc.fill(0);
      for (let h = 0; h < oh; h++) {
        const k = mh[i * oh + h]!;
        if (k === 0) continue;
        const src = (h * nw + j) * dim;
        for (let c = 0; c < dim; c++) acc[c]! += k * cols[src + c]!;
      }
      out.set(acc, (prefixTokens + i * nw + j) * dim);
    }
  return out;
}
