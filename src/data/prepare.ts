/** Sample preparation for training and evaluation, from a model's input spec. */
import type { Rng } from '../nn/rng.js';
import type { Dataset, RawImage } from './dataset.js';
import type { Prepared } from './loader.js';
import { type InputSpec, type TrainAugmentation, evalTransform, hflip, normalizeInPlace, resampleBilinear, resampleNearest, sampleResizedCropRegion, toChannels, toFloat, trainTransform, colorJitter } from './transforms.js';

export type PrepareFn = (ds: Dataset, index: number, rng: Rng) => Promise<Prepared>;

function flipMask(m: Uint8Array, w: number, h: number): Uint8Array {
  const out = new Uint8Array(m.length);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[y * w + x] = m[y * w + w - 1 - x]!;
  return out;
}

/** Classification: RandomResizedCrop + flip + jitter (train) or resize + center crop (eval). Segmentation: the same crop and flip on image and mask (nearest). */
export function makePrepare(spec: InputSpec, train: boolean, aug: TrainAugmentation = {}): PrepareFn {
  return async (ds, index, rng) => {
    if (ds.task === 'classification') {
      const s = await ds.load(index);
      return { x: train ? trainTransform(s.image, spec, aug, rng) : evalTransform(s.image, spec), y: s.label };
    }
    const s = await ds.load(index);
    const { width, height } = s.image;
    const region = train && aug.scale !== null ? sampleResizedCropRegion(width, height, rng, aug.scale ?? [0.5, 1], aug.ratio) : { x: 0, y: 0, w: width, h: height };
    let img: RawImage = resampleBilinear(s.image, region, spec.width, spec.height);
    let mask = resampleNearest(s.mask, width, height, region, spec.width, spec.height, ds.ignoreIndex);
    if (train && rng.uniform() < (aug.hflip ?? 0.5)) {
      img = hflip(img);
      mask = flipMask(mask, spec.width, spec.height);
    }
    const x = toFloat(toChannels(img, spec.channels));
    if (train) colorJitter(x, spec.channels, aug.colorJitter ?? 0, rng);
    return { x: normalizeInPlace(x, spec.channels, spec.mean, spec.std), y: mask };
  };
}
