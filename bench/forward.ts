/** Forward-pass benchmark cases shared by the family benchmark files. */
import { type Module, createModel, tf } from '../src/index.js';
import type { BenchCase } from './types.js';

/** Times `forward` of whatever `build` returns on a (batch, h, w, channels) random input. */
export function moduleForwardCase(name: string, build: () => Module & { forward(x: tf.Tensor): tf.Tensor }, shape: number[]): BenchCase {
  return {
    name,
    setup: async () => {
      const m = build();
      m.eval();
      const x = tf.randomNormal(shape, 0, 1, 'float32', 1);
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

/** A registered model's forward on a (batch, size, size, 3) input, named `<model> forward Bx3xSxS`. */
export function modelForwardCase(model: string, batch: number, size = 224, extra: Partial<BenchCase> = {}): BenchCase {
  return { ...moduleForwardCase(`${model} forward ${batch}x3x${size}x${size}`, () => createModel(model), [batch, size, size, 3]), ...extra };
}
