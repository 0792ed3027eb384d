// The one place vizoo imports TensorFlow.js: tfjs-core only (the `@tensorflow/tfjs` umbrella also loads
// layers, converter and data, 2 s of start-up). Gradients are registered when a backend is selected
// (src/backend). vizoo calls ops as functions (`tf.reshape(x, s)`), never the chained `x.reshape(s)`
// methods, which tfjs-core alone does not install.
import * as tf from '@tensorflow/tfjs-core';

// PROD silences tfjs console banners (e.g. the "install tfjs-node" hint on every cpu-backend process).
tf.env().set('PROD', true);

export { tf };
export type Tensor = tf.Tensor;
export type Tensor4D = tf.Tensor4D;
export type Variable = tf.Variable;
