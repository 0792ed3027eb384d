/** The timm / ViT token MLP: fc1 -> GELU -> dropout -> fc2 -> dropout, on the last axis (keys fc1, fc2). */
import type { Tensor } from '../tf.js';
import { Module, type Layer } from '../nn/module.js';
import { Dropout, GELU, Linear } from '../nn/layers.js';

export class Mlp extends Module implements Layer {
  readonly fc1: Linear;
  readonly act: GELU;
  readonly fc2: Linear;
  readonly drop: Dropout;

  constructor(inFeatures: number, hiddenFeatures = inFeatures, outFeatures = inFeatures, drop = 0) {
    super();
    this.fc1 = this.add('fc1', new Linear(inFeatures, hiddenFeatures));
    this.act = this.add('act', new GELU());
    this.fc2 = this.add('fc2', new Linear(hiddenFeatures, outFeatures));
    this.drop = this.add('drop', new Dropout(drop));
  }

  forward(x: Tensor): Tensor {
    const h = this.drop.forward(this.act.forward(this.fc1.forward(x)));
    return this.drop.forward(this.fc2.forward(h));
  }
}
