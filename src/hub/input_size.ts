/**
 * Weights trained at one input size, loaded into a model built for another (timm's checkpoint filters):
 * absolute position embeddings of another grid are resampled (resample_abs_pos_embed: bicubic with
 * antialiasing, prefix tokens kept apart) for models whose other weights do not depend on the size, and
 * refused, with the reason, for models whose per-token weights or schedules do.
 */
import { Backbone } from '../models/backbone.js';
import type { Module } from '../nn/module.js';
import { resampleAbsPosEmbed } from '../nn/pos_embed.js';
import { FileError } from '../util/errors.js';
import { type StateDict, toFloat32 } from './host_tensor.js';

/** Weights of another input size that a model cannot take. */
export class InputSizeError extends FileError {}

/** The Backbone inside a model (a features-only model wraps one). */
function backboneOf(model: Module): Backbone | null {
  if (model instanceof Backbone) return model;
  const inner = (model as { backbone?: unknown }).backbone;
  return inner instanceof Backbone ? inner : null;
}

/**
 * `sd` with every position embedding of another grid resampled to the model's, or an InputSizeError naming
 * `file` when the model's weights cannot change size. The checkpoint's grid is taken as square (as timm does
 * when no old size is given).
 */
export function adaptToInputSize(model: Module, sd: StateDict, file: string): StateDict {
  const bb = backboneOf(model);
  if (!bb) return sd;
  let out = sd;
  const own = new Map(bb.stateEntries());
  for (const { key, grid, prefixTokens } of bb.positionEmbeddings()) {
    const t = sd.get(key);
    const want = own.get(key)?.shape;
    if (!t || !want || (t.shape.length === want.length && t.shape.every((d, i) => d === want[i]))) continue;
    const name = bb.variant || bb.constructor.name;
    const [, n, dim] = t.shape as [number, number, number];
    if (bb.inputSizeSupport.kind !== 'resample') {
      throw new InputSizeError(file, `${key} holds ${n - prefixTokens} patch tokens but ${name} is built for ${grid[0] * grid[1]} (a ${grid.join('x')} grid): ${name} cannot change input size after training: ${bb.inputSizeSupport.note}`);
    }
    const side = Math.round(Math.sqrt(n - prefixTokens));
    if (t.shape.length !== 3 || t.shape[0] !== 1 || side * side !== n - prefixTokens || dim !== want[2]) {
      throw new InputSizeError(file, `${key} [${t.shape}] is not a square grid of width ${want[2]} that vizoo can resample to ${name}'s ${grid.join('x')}`);
    }
    if (out === sd) out = new Map(sd);
    out.set(key, { dtype: 'F32', shape: [1, prefixTokens + grid[0] * grid[1], dim], data: resampleAbsPosEmbed(toFloat32(t), dim, [side, side], grid, prefixTokens) });
  }
  return out;
}
