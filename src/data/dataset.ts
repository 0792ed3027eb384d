/** Datasets: indexable collections of decoded samples (uint8 HWC images with a label or a mask). */
import { FileError } from '../util/errors.js';

export interface RawImage {
  /** uint8, HWC, `channels` per pixel. */
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

export interface ClassificationSample {
  image: RawImage;
  label: number;
}

export interface SegmentationSample {
  image: RawImage;
  /** Class index per pixel (H*W), same size as the image; `ignoreIndex` marks unlabeled pixels. */
  mask: Uint8Array;
}

interface DatasetBase {
  readonly name: string;
  readonly length: number;
  readonly classes: string[];
  /** Where sample i comes from (a file path, or dataset:index), for messages. */
  source(index: number): string;
}

export interface ClassificationDataset extends DatasetBase {
  readonly task: 'classification';
  load(index: number): Promise<ClassificationSample>;
  /** Labels without decoding (for per-class metrics and class balance checks). */
  label(index: number): number;
}

export interface SegmentationDataset extends DatasetBase {
  readonly task: 'segmentation';
  readonly ignoreIndex: number;
  load(index: number): Promise<SegmentationSample>;
}

export type Dataset = ClassificationDataset | SegmentationDataset;

/** A sample that cannot be decoded: the loader skips it with a warning and counts it. */
export class CorruptSampleError extends FileError {}

/** A view of a dataset restricted to some indices (train/val splits of one folder). */
export function subset<D extends Dataset>(ds: D, indices: number[], name = `${ds.name}[subset]`): D {
  const view = Object.create(ds) as D;
  Object.defineProperties(view, {
    name: { value: name },
    length: { value: indices.length },
    source: { value: (i: number) => ds.source(indices[i]!) },
    load: { value: (i: number) => ds.load(indices[i]!) },
  });
  if (ds.task === 'classification') Object.defineProperty(view, 'label', { value: (i: number) => ds.label(indices[i]!) });
  return view;
}
