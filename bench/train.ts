/**
 * Training-step benchmark: van_b0 at 224², batch 8, AdamW, on wasm: images/s and peak tfjs memory per step,
 * and the tensor count before and after the timed steps (must not grow). VIZOO_BENCH_TRAIN_STEPS sets the
 * step count (default 200, as the training issue asks; a few are enough for a quick look).
 */
import { createModel, tf } from '../src/index.js';
import { AdamW, buildParamGroups } from '../src/index.js';
import { softTargetCrossEntropy, smoothOneHot } from '../src/train/losses.js';
import type { BenchModule } from './types.js';

const STEPS = Number(process.env.VIZOO_BENCH_TRAIN_STEPS ?? 200);

export const train: BenchModule = {
  benchmarks: [
    {
      name: 'van_b0 train step 8x3x224x224',
      backends: ['wasm'],
      warmup: 2,
      iterations: STEPS,
      setup: async () => {
        const model = createModel('van_b0', { numClasses: 1000 }).train();
        const opt = new AdamW(buildParamGroups(model, { weightDecay: 0.05 }));
        const x = tf.randomNormal([8, 224, 224, 3], 0, 1, 'float32', 1);
        const targets = smoothOneHot(tf.tensor1d([1, 2, 3, 4, 5, 6, 7, 8], 'int32'), 1000, 0.1);
        const params = model.namedParameters();
        const vars = params.map(([, p]) => p.value);
        const keyOf = new Map(params.map(([k, p]) => [p.value.name, k]));
        let tensorsAfterFirst = -1;
        let steps = 0;
        return {
          run: async () => {
            const { value, grads } = tf.variableGrads(() => softTargetCrossEntropy(model.forward(x), targets) as tf.Scalar, vars);
            opt.step(new Map(Object.entries(grads).map(([n, g]) => [keyOf.get(n)!, g])), 1e-3);
            await value.data();
            tf.dispose([value, ...Object.values(grads)]);
            if (++steps === 1) tensorsAfterFirst = tf.memory().numTensors;
          },
          dispose: () => {
            const growth = tf.memory().numTensors - tensorsAfterFirst;
            process.stderr.write(`  van_b0 train step: tensor count change over ${steps - 1} steps after the first: ${growth}\n`);
            tf.dispose([x, targets]);
            opt.dispose();
            model.dispose();
          },
        };
      },
    },
  ],
};
