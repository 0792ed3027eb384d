/** The process-wide training Rng (dropout masks, stochastic depth, augmentation), seeded by `seedEverything`. */
import { Rng, type RngState } from './rng.js';

let rng = new Rng(0);

export function seedEverything(seed: number): void {
  rng = new Rng(seed);
}

export function globalRng(): Rng {
  return rng;
}

export function getGlobalRngState(): RngState {
  return rng.getState();
}

export function setGlobalRngState(state: RngState): void {
  rng.setState(state);
}
