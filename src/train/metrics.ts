/** Evaluation metrics: top-k and per-class accuracy for classification; mIoU and pixel accuracy for segmentation. */

export class ClassificationMeter {
  private n = 0;
  private top1 = 0;
  private top5 = 0;
  readonly correct: number[];
  readonly total: number[];

  constructor(readonly numClasses: number) {
    this.correct = new Array<number>(numClasses).fill(0);
    this.total = new Array<number>(numClasses).fill(0);
  }

  /** logits: (B * K) row-major; labels: B. */
  add(logits: Float32Array, labels: ArrayLike<number>): void {
    const k = this.numClasses;
    for (let b = 0; b < labels.length; b++) {
      const row = logits.subarray(b * k, (b + 1) * k);
      const y = labels[b]!;
      const target = row[y]!;
      let rank = 0;
      for (let j = 0; j < k; j++) if (row[j]! > target || (row[j] === target && j < y)) rank++;
      this.n++;
      this.total[y]!++;
      if (rank === 0) {
        this.top1++;
        this.correct[y]!++;
      }
      if (rank < 5) this.top5++;
    }
  }

  result(classes?: string[]): ClassificationMetrics {
    return {
      samples: this.n,
      top1: this.n ? this.top1 / this.n : 0,
      top5: this.n ? this.top5 / this.n : 0,
      perClass: this.total.map((t, i) => ({ class: classes?.[i] ?? String(i), samples: t, accuracy: t ? this.correct[i]! / t : null })),
    };
  }
}

export interface ClassificationMetrics {
  samples: number;
  top1: number;
  top5: number;
  perClass: { class: string; samples: number; accuracy: number | null }[];
}

export class SegmentationMeter {
  /** confusion[gt * K + pred] */
  readonly confusion: Float64Array;

  constructor(
    readonly numClasses: number,
    readonly ignoreIndex = 255,
  ) {
    this.confusion = new Float64Array(numClasses * numClasses);
  }

  add(pred: ArrayLike<number>, gt: ArrayLike<number>): void {
    const k = this.numClasses;
    for (let i = 0; i < gt.length; i++) {
      const g = gt[i]!;
      if (g === this.ignoreIndex || g < 0 || g >= k) continue;
      this.confusion[g * k + pred[i]!]!++;
    }
  }

  result(classes?: string[]): SegmentationMetrics {
    const k = this.numClasses;
    let correct = 0;
    let total = 0;
    const perClass: { class: string; iou: number | null }[] = [];
    const ious: number[] = [];
    for (let c = 0; c < k; c++) {
      const tp = this.confusion[c * k + c]!;
      let gtSum = 0;
      let predSum = 0;
      for (let j = 0; j < k; j++) {
        gtSum += this.confusion[c * k + j]!;
        predSum += this.confusion[j * k + c]!;
      }
      correct += tp;
      total += gtSum;
      const union = gtSum + predSum - tp;
      const iou = union > 0 ? tp / union : null;
      if (iou !== null) ious.push(iou);
      perClass.push({ class: classes?.[c] ?? String(c), iou });
    }
    return { pixels: total, pixelAccuracy: total ? correct / total : 0, mIoU: ious.length ? ious.reduce((a, b) => a + b, 0) / ious.length : 0, perClass };
  }
}

export interface SegmentationMetrics {
  pixels: number;
  pixelAccuracy: number;
  mIoU: number;
  perClass: { class: string; iou: number | null }[];
}
