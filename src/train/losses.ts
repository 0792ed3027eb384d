/** Losses: soft-target cross entropy (label smoothing, mixup targets) and per-pixel cross entropy with an ignore index. */
import { tf, type Tensor } from '../tf.js';

/** One-hot targets with label smoothing: (1 - e) * onehot + e / K. */
export function smoothOneHot(labels: Tensor, numClasses: number, smoothing = 0): Tensor {
  return tf.tidy(() => {
    const oh = tf.cast(tf.oneHot(tf.cast(labels, 'int32'), numClasses), 'float32');
    return smoothing > 0 ? tf.add(tf.mul(oh, 1 - smoothing), smoothing / numClasses) : oh;
  });
}

/** mean over the batch of -sum(target * log_softmax(logits)). */
export function softTargetCrossEntropy(logits: Tensor, targets: Tensor): Tensor {
  return tf.tidy(() => tf.mean(tf.neg(tf.sum(tf.mul(targets, tf.logSoftmax(logits)), -1))));
}

export function crossEntropy(logits: Tensor, labels: Tensor, smoothing = 0): Tensor {
  return tf.tidy(() => softTargetCrossEntropy(logits, smoothOneHot(labels, logits.shape[logits.rank - 1]!, smoothing)));
}

/**
 * Per-pixel cross entropy over (B, H, W, K) logits and (B, H, W) labels; pixels equal to `ignoreIndex`
 * count neither in the sum nor in the mean (nn.CrossEntropyLoss(ignore_index=...)). Optional per-class weights.
 */
export function pixelCrossEntropy(logits: Tensor, labels: Tensor, ignoreIndex = 255, classWeights?: number[]): Tensor {
  return tf.tidy(() => {
    const k = logits.shape[logits.rank - 1]!;
    const lab = tf.cast(labels, 'int32');
    const valid = tf.notEqual(lab, ignoreIndex);
    const safe = tf.where(valid, lab, tf.zerosLike(lab));
    const oh = tf.cast(tf.oneHot(safe, k), 'float32');
    let nll = tf.neg(tf.sum(tf.mul(oh, tf.logSoftmax(logits)), -1));
    let w = tf.cast(valid, 'float32');
    if (classWeights) w = tf.mul(w, tf.sum(tf.mul(oh, tf.tensor1d(classWeights)), -1));
    nll = tf.mul(nll, w);
    return tf.div(tf.sum(nll), tf.maximum(tf.sum(w), 1e-12));
  });
}
