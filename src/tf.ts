// The one place vizoo imports TensorFlow.js. `@tensorflow/tfjs` (not tfjs-core alone) registers every
// gradient; all other modules import `tf` from here so a single engine instance is shared.
import * as tf from '@tensorflow/tfjs';

// PROD silences tfjs console banners (e.g. the "install tfjs-node" hint on every cpu-backend process).
tf.env().set('PROD', true);

export { tf };
export type Tensor = tf.Tensor;
export type Tensor4D = tf.Tensor4D;
export type Variable = tf.Variable;
