/**
 * A backbone stage as hierarchical models nest it (NAT's `NATBlock`, DiNAT_s's and LITv2's `BasicLayer` /
 * `LITLayer`): `blocks.*` run in order, then an optional 2x `downsample.*`.
 */
import { tf, type Tensor } from '../tf.js';
import { Module, ModuleList, type Layer } from '../nn/module.js';

export class DownsamplingStage<B extends Module & Layer = Module & Layer, D extends Module & Layer = Module & Layer> extends Module {
  readonly blocks: ModuleList<B>;
  readonly downsample: D | null;

  constructor(blocks: B[], downsample: D | null) {
    super();
    this.blocks = this.add('blocks', new ModuleList(blocks));
    this.downsample = downsample ? this.add('downsample', downsample) : null;
  }

  /** The stage's blocks only: its map before downsampling (a new tensor even without blocks). */
  forwardBlocks(x: Tensor): Tensor {
    return tf.tidy(() => {
      let y = x;
      for (const b of this.blocks) y = b.forward(y);
      return y === x ? x.clone() : y;
    });
  }
}
