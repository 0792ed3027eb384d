/**
 * The inference pipelines on browser images: the same classify / segment / embed code as Node (pure, in
 * src/pipelines), fed by the browser's decoder and vizoo's own resampling (each model's resize and crop).
 */
import type { Backbone } from '../models/backbone.js';
import { resolveLabels } from '../data/labels.js';
import { paletteFor } from '../data/palette.js';
import { evalPreprocess } from '../data/resample.js';
import { type ClassifyOptions, type ClassifyResult, classifyWith } from '../pipelines/classify.js';
import type { InferenceModel } from '../pipelines/model.js';
import { type EmbedOptions, type EmbedResult, embedWith } from '../pipelines/retrieval.js';
import { type ClassShare, NotSegmentationModelError, type SegmentationMap, classShares, colorize, overlay, segmentRGB } from '../pipelines/segment.js';
import { type ImageInput, imagePixels, toImageData } from './image.js';

interface Named {
  input: ImageInput;
  name: string;
}

/** Inputs with the names results use: `names[i]`, a URL, or `image <i>`. */
function named(inputs: ImageInput[], names?: string[]): Named[] {
  return inputs.map((input, i) => ({ input, name: names?.[i] ?? (typeof input === 'string' ? input : `image ${i + 1}`) }));
}

/** Top-k labels per image with the model's preprocessing; an image that cannot be decoded gives `{file, error}`. */
export function classifyImages(model: InferenceModel, images: ImageInput[], opts: ClassifyOptions & { names?: string[] } = {}): Promise<ClassifyResult[]> {
  return classifyWith(model, named(images, opts.names), async (im, t) => evalPreprocess(await imagePixels(im.input, im.name), t), (im) => im.name, opts);
}

/** Hash codes per image (EET models). */
export async function embedImages(model: Backbone, images: ImageInput[], opts: EmbedOptions & { names?: string[] } = {}): Promise<EmbedResult[]> {
  const items = named(images, opts.names);
  const byName = new Map(items.map((im) => [im.name, im.input]));
  return embedWith(model, items.map((im) => ({ file: im.name, label: null })), async (im, t) => evalPreprocess(await imagePixels(byName.get(im.file)!, im.file), t), opts);
}

export interface BrowserSegmentation {
  map: SegmentationMap;
  classes: ClassShare[];
  /** The class map in the model's palette, and blended over the image (alpha 0.5 by default). */
  mask: ImageData;
  overlay: ImageData;
}

/** Segments one image at its own size (or `size`, [height, width]). */
export async function segmentImage(model: InferenceModel, image: ImageInput, opts: { size?: [number, number]; alpha?: number; name?: string } = {}): Promise<BrowserSegmentation> {
  const cfg = model.pretrainedCfg;
  if (cfg.task !== 'segmentation') throw new NotSegmentationModelError(model.variant, cfg.task);
  model.eval();
  const { data, width, height } = await imagePixels(image, opts.name);
  const map = await segmentRGB(model, data, width, height, opts.size);
  const mask = colorize(map, paletteFor(cfg.labels, model.numClasses));
  return {
    map,
    classes: classShares(map, resolveLabels(cfg.labels, model.numClasses)),
    mask: toImageData(mask, width, height),
    overlay: toImageData(overlay(data, mask, opts.alpha ?? 0.5), width, height),
  };
}
