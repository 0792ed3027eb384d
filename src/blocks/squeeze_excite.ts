/**
 * Squeeze-and-Excitation (Hu et al., arXiv 1709.01507) as UniRepLKNet's `SEBlock`: global average pool ->
 * 1x1 conv `down` -> ReLU -> 1x1 conv `up` -> sigmoid, rescaling the input's channels.
 */
import { tf, type Tensor } from '../tf.js';
import { Module, type Layer } from '../nn/module.js';
import { Conv2d } from '../nn/layers.js';

export class SEBlock extends Module implements Layer {
  readonly down: Conv2d;
  readonly up: Conv2d;

  constructor(inputChannels: number, internalNeurons: number) {
    super();
    this.down = this.add('down', new Conv2d(inputChannels, internalNeurons, 1));
    this.up = this.add('up', new Conv2d(internalNeurons, inputChannels, 1));
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const s = tf.mean(x, [1, 2], true);
      return tf.mul(x, this.up.forward(this.down.forward(s, 'relu'), 'sigmoid'));
    });
  }
}
