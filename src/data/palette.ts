/**
 * Label sets and color palettes of segmentation datasets. Cityscapes: the 19 evaluation classes
 * (trainId order) and their official colors (cityscapesScripts labels.py; the same table as BEVANet's
 * tools/custom.py color_map).
 */
export const CITYSCAPES_CLASSES: readonly string[] = [
  'road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic light', 'traffic sign', 'vegetation', 'terrain',
  'sky', 'person', 'rider', 'car', 'truck', 'bus', 'train', 'motorcycle', 'bicycle',
];

export type RGB = [number, number, number];

export const CITYSCAPES_PALETTE: readonly RGB[] = [
  [128, 64, 128], [244, 35, 232], [70, 70, 70], [102, 102, 156], [190, 153, 153], [153, 153, 153], [250, 170, 30],
  [220, 220, 0], [107, 142, 35], [152, 251, 152], [70, 130, 180], [220, 20, 60], [255, 0, 0], [0, 0, 142],
  [0, 0, 70], [0, 60, 100], [0, 80, 100], [0, 0, 230], [119, 11, 32],
];

const PALETTES: Record<string, readonly RGB[]> = { cityscapes: CITYSCAPES_PALETTE };

/** The PASCAL VOC color map: class bits spread over the high bits of R, G and B (distinct for any count). */
function vocColor(i: number): RGB {
  const c: RGB = [0, 0, 0];
  let id = i;
  for (let shift = 7; id > 0 && shift >= 0; shift--, id >>= 3) {
    for (let ch = 0; ch < 3; ch++) c[ch]! |= ((id >> ch) & 1) << shift;
  }
  return c;
}

/** One color per class: the label set's own palette where it has one, else the VOC color map. */
export function paletteFor(labels: string | readonly string[] | undefined, numClasses: number): RGB[] {
  const own = typeof labels === 'string' ? PALETTES[labels] : undefined;
  return Array.from({ length: numClasses }, (_, i) => (own?.[i] ? ([...own[i]!] as RGB) : vocColor(i)));
}
