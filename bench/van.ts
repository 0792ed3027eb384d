import type { BenchModule } from './types.js';
import { modelForwardCase } from './forward.js';

export const van: BenchModule = {
  benchmarks: [modelForwardCase('van_b0', 1), modelForwardCase('van_b0', 8)],
};
