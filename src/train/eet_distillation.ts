/**
 * EET's joint teacher/student training (WhiteJiang/EET@19b8442 `train_model.py`;
 * docs/families/eet.md#training-objective) as one module the trainer can fit. Per batch: the teacher (no
 * pruning) gives logits, hash and its last-block token score; the top-w scored patches are zeroed in the input
 * (discriminative region guidance); the pruned student runs on the image and on the masked image. The loss is
 * the sum of the student loss
 *   0.1 [CE(s, y) + CE(s_masked, y)] + MSE(hash_s, B_y) + mean(1 - cos(hash_s, stopgrad(hash_t)))
 * and the teacher loss CE(t, y) + MSE(hash_t, B_y). The two losses touch disjoint parameters (the teacher hash
 * is detached in the student term), so one optimizer over both networks takes the same per-parameter steps as
 * EET's two SGD optimizers with equal settings.
 */
import { tf, type Tensor } from '../tf.js';
import { Module } from '../nn/module.js';
import type { EETViT } from '../models/eet.js';
import type { PretrainedConfig } from '../models/registry.js';
import { eetStudentLoss, eetTeacherLoss, regionMask, trainCodes, type TrainCodesOptions } from './hashing_losses.js';
import type { TrainBatch, TrainOutput } from './trainer.js';

/**
 * One target code per class from EET's code generation over the training labels. EET indexes codes per
 * training sample; with at least as many classes as bits (200 classes, 16-64 bits) every sample of a class
 * gets its class's code, so a class table is the same thing. Returns (numClasses * bits) values in {-1, +1}.
 */
export function eetClassCodes(labels: ArrayLike<number>, numClasses: number, bits: number, opts: TrainCodesOptions = {}): Float32Array {
  const perSample = trainCodes(labels, numClasses, bits, opts);
  const out = new Float32Array(numClasses * bits);
  const seen = new Set<number>();
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i]!;
    if (seen.has(c)) continue;
    seen.add(c);
    out.set(perSample.subarray(i * bits, (i + 1) * bits), c * bits);
  }
  if (seen.size !== numClasses) throw new Error(`eetClassCodes: ${numClasses - seen.size} classes have no training sample`);
  return out;
}

export interface EETDistillationOptions {
  /** Patches zeroed per image by the region guidance (the official `--w`, default 4). */
  maskPatches?: number;
  /** Keep the official transposed mask placement (default true; see `regionMask`). */
  transposedMask?: boolean;
}

export class EETDistillation extends Module {
  readonly numClasses: number;
  readonly pretrainedCfg: PretrainedConfig;
  readonly headModules: readonly string[] = [];
  private readonly codes: Tensor;

  constructor(
    readonly student: EETViT,
    readonly teacher: EETViT,
    classCodes: Float32Array,
    readonly opts: EETDistillationOptions = {},
  ) {
    super();
    if (student.numClasses !== teacher.numClasses || student.hashBits !== teacher.hashBits) throw new Error('EETDistillation: student and teacher need the same classes and hash bits');
    if (classCodes.length !== student.numClasses * student.hashBits) throw new Error(`EETDistillation: expected ${student.numClasses} x ${student.hashBits} class codes, got ${classCodes.length} values`);
    this.add('student', student);
    this.add('teacher', teacher);
    this.numClasses = student.numClasses;
    this.pretrainedCfg = student.pretrainedCfg;
    this.codes = tf.keep(tf.tensor2d(classCodes, [student.numClasses, student.hashBits]));
  }

  /** Checkpoints the blocks of both networks (see Backbone.setGradCheckpointing). */
  setGradCheckpointing(enable = true): this {
    this.student.setGradCheckpointing(enable);
    this.teacher.setGradCheckpointing(enable);
    return this;
  }

  get gradCheckpointing(): boolean {
    return this.student.gradCheckpointing;
  }

  /** Inference (and the trainer's evaluation): the student's logits. */
  forward(x: Tensor): Tensor {
    return this.student.forward(x);
  }

  forwardTrain(x: Tensor): TrainOutput {
    return tf.tidy(() => {
      const t = this.teacher.forwardAll(x);
      const pe = this.student.patchEmbed;
      const mask = regionMask(t.lastScore, pe.imgSize, pe.patchSize, { count: this.opts.maskPatches ?? 4, transposed: this.opts.transposedMask ?? true });
      const s = this.student.forwardAll(x);
      const masked = this.student.forwardAll(tf.mul(x, mask));
      return { logits: s.logits, hash: s.hash, maskedLogits: masked.logits, teacherLogits: t.logits, teacherHash: t.hash };
    });
  }

  /** The summed student and teacher losses of a `forwardTrain` output (pass as `fit`'s `loss`). */
  readonly loss = (out: TrainOutput, batch: TrainBatch): Tensor =>
    tf.tidy(() => {
      const o = out as Record<string, Tensor>;
      const y = batch.targets ?? batch.y;
      const codes = tf.gather(this.codes, tf.cast(batch.y, 'int32'));
      const student = eetStudentLoss({ logits: o.logits!, hash: o.hash! }, o.maskedLogits!, o.teacherHash!, y, codes);
      const teacher = eetTeacherLoss({ logits: o.teacherLogits!, hash: o.teacherHash! }, y, codes);
      return tf.add(student, teacher);
    });

  override dispose(): void {
    this.codes.dispose();
    super.dispose();
  }
}
