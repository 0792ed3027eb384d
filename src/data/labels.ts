/** Label sets named by pretrained configs (pure: the browser entry uses them too). */
import { FASHION_MNIST_CLASSES } from './fashion_mnist_classes.js';
import { IMAGENET_CLASSES } from './imagenet_classes.js';
import { CITYSCAPES_CLASSES } from './palette.js';

const SETS: Record<string, readonly string[]> = {
  'imagenet-1k': IMAGENET_CLASSES,
  'fashion-mnist': FASHION_MNIST_CLASSES,
  cityscapes: CITYSCAPES_CLASSES,
};

/** Resolves a config's labels (a set name or explicit names) to `numClasses` names; indices fill gaps. */
export function resolveLabels(labels: string | string[] | undefined, numClasses: number): string[] {
  let names: string[] = [];
  if (Array.isArray(labels)) names = labels;
  else if (labels && SETS[labels]) names = [...SETS[labels]!];
  if (names.length !== numClasses) names = Array.from({ length: numClasses }, (_, i) => names[i] ?? `class ${i}`);
  return names;
}
