import type { Command } from 'commander';
import { NotSegmentationModelError, type SegmentResult, ProgressBar, getModelEntry, segmentImages } from '../../src/index.js';
import { type ModelCliOptions, action, addModelOptions, buildModel, parseIntArg, resolveModelName, selectBackend } from '../common.js';

/** The segmenter `vizoo segment` uses when nothing names one. */
const DEFAULT_SEGMENTER = 'bevanet_s_seg_deploy';

/** "512x1024" -> [512, 1024] (height x width). */
function parseSize(v: string): [number, number] {
  const m = /^(\d+)x(\d+)$/.exec(v.trim());
  if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) throw new Error(`--size must be HEIGHTxWIDTH (e.g. 512x1024), got '${v}'`);
  return [Number(m[1]), Number(m[2])];
}

function parseAlpha(v: string): number {
  const a = Number(v);
  if (!(a >= 0 && a <= 1)) throw new Error(`--alpha must be a number in [0, 1], got '${v}'`);
  return a;
}

export function registerSegment(program: Command): void {
  addModelOptions(
    program
      .command('segment')
      .description('semantic segmentation of images: colorized mask and overlay PNGs, per-class pixel shares')
      .argument('<images...>', 'image files')
      .option('-o, --out <dir>', 'folder for <name>_mask.png and <name>_overlay.png', 'outputs')
      .option('--size <HxW>', 'run the network at this size instead of the image size', parseSize)
      .option('--alpha <a>', 'mask opacity in the overlay', parseAlpha, 0.5)
      .option('--top <k>', 'classes listed per image in text output', parseIntArg('--top', 1), 5)
      .option('--json', 'print JSON: [{file, width, height, mask, overlay, classes: [{index, label, share}]} | {file, error}]'),
    DEFAULT_SEGMENTER,
  ).action(
    action(async (images: string[], o: ModelCliOptions & { out: string; size?: [number, number]; alpha: number; top: number; json?: boolean; backend: string }) => {
      const name = resolveModelName(o, DEFAULT_SEGMENTER);
      const task = getModelEntry(name).pretrainedCfg.task;
      if (task !== 'segmentation') throw new NotSegmentationModelError(name, task);
      await selectBackend(o.backend);
      const model = buildModel({ ...o, model: name });
      const bar = images.length > 4 ? new ProgressBar({ total: images.length, label: 'segment' }) : null;
      const results = await segmentImages(model, images, {
        outDir: o.out,
        size: o.size,
        alpha: o.alpha,
        onImage: (r) => {
          bar?.tick();
          if ('error' in r) process.stderr.write(`vizoo: error: ${r.error}\n`);
        },
      });
      bar?.finish();
      if (o.json) process.stdout.write(`${JSON.stringify(results)}\n`);
      else process.stdout.write(results.map((r) => formatText(r, o.top)).filter(Boolean).join('\n') + '\n');
      const failed = results.filter((r) => 'error' in r).length;
      if (failed) process.stderr.write(`vizoo: ${failed} of ${results.length} images failed\n`);
      return failed ? 1 : 0;
    }),
  );
}

function formatText(r: SegmentResult, top: number): string {
  if ('error' in r) return '';
  const lines = [`${r.file} (${r.width}x${r.height}): mask ${r.mask}, overlay ${r.overlay}`];
  for (const c of r.classes.slice(0, top)) lines.push(`  ${(c.share * 100).toFixed(2).padStart(6)}%  ${c.label} (${c.index})`);
  return lines.join('\n');
}
