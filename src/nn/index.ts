export * from './module.js';
export * from './layers.js';
export * from './layout.js';
export * from './init.js';
export * from './rng.js';
export * from './random.js';
export * as F from './functional.js';
export { resampleAbsPosEmbed } from './pos_embed.js';
export * from './reparam.js';
