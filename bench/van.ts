import { createModel, tf } from '../src/index.js';
import type { BenchCase, BenchModule } from './types.js';

function forwardCase(model: string, batch: number, size = 224): BenchCase {
  return {
    name: `${model} forward ${batch}x3x${size}x${size}`,
    setup: async () => {
      const m = createModel(model).eval();
      const x = tf.randomNormal([batch, size, size, 3], 0, 1, 'float32', 1);
      return {
        run: async () => {
          const y = m.forward(x);
          await y.data();
          y.dispose();
        },
        dispose: () => {
          x.dispose();
          m.dispose();
        },
      };
    },
  };
}

export const van: BenchModule = {
  benchmarks: [forwardCase('van_b0', 1), forwardCase('van_b0', 8)],
};
