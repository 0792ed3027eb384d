import type { Command } from 'commander';
import { type InferenceModel, type OrtDevice, NotSegmentationModelError, type SegmentResult, getModelEntry, loadImageRGB, ortModelFor, segmentImages, workingSize } from '../../src/index.js';
import { type ModelCliOptions, action, addModelOptions, buildModel, imageProgress, parseIntArg, reportFailures, resolveModelName, resolveWeightsOption, runtimeOption, deviceOption, commandRuntime, selectBackend } from '../common.js';

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
      .option('--raw-mask', 'also write <name>_classes.png: the class index of each pixel (8-bit grey; 16-bit above 256 classes)')
      .option('--top <k>', 'classes listed per image in text output', parseIntArg('--top', 1), 5)
      .option('--json', 'print JSON: [{file, width, height, mask, overlay, classes: [{index, label, share}]} | {file, error}]')
      .addOption(runtimeOption())
      .addOption(deviceOption()),
    DEFAULT_SEGMENTER,
  ).action(
    action(async (images: string[], o: ModelCliOptions & { out: string; size?: [number, number]; alpha: number; rawMask?: boolean; top: number; json?: boolean; backend: string; runtime: string; device: string }) => {
      await resolveWeightsOption(o);
      const name = resolveModelName(o, DEFAULT_SEGMENTER);
      const task = getModelEntry(name).pretrainedCfg.task;
      if (task !== 'segmentation') throw new NotSegmentationModelError(name, task);
      await selectBackend(o.backend);
      const tfModel = buildModel({ ...o, model: name }, undefined, true);
      const model = (await commandRuntime(o)) === 'ort' ? await ortRunner(tfModel, images, o) : tfModel;
      const progress = imageProgress(images.length, 'segment');
      const onImage = (r: SegmentResult) => {
        progress.onImage(r);
        if (!('error' in r) && !o.size && (r.workingSize[0] !== r.height || r.workingSize[1] !== r.width)) {
          process.stderr.write(`vizoo: ${r.file} (${r.width}x${r.height}) was segmented at ${r.workingSize[1]}x${r.workingSize[0]}, ${name}'s working resolution; the mask is upsampled to the image (--size HxW to choose)\n`);
        }
      };
      const results = await segmentImages(model, images, { outDir: o.out, size: o.size, alpha: o.alpha, rawMask: o.rawMask, onImage });
      progress.finish();
      await (model as { dispose?(): unknown }).dispose?.();
      if (o.json) process.stdout.write(`${JSON.stringify(results)}\n`);
      else process.stdout.write(results.map((r) => formatText(r, o.top)).filter(Boolean).join('\n') + '\n');
      return reportFailures(results.filter((r) => 'error' in r).length, results.length);
    }),
  );
}

function formatText(r: SegmentResult, top: number): string {
  if ('error' in r) return '';
  const lines = [`${r.file} (${r.width}x${r.height}): mask ${r.mask}, overlay ${r.overlay}${r.rawMask ? `, classes ${r.rawMask}` : ''}`];
  for (const c of r.classes.slice(0, top)) lines.push(`  ${(c.share * 100).toFixed(2).padStart(6)}%  ${c.label} (${c.index})`);
  return lines.join('\n');
}

/**
 * The segmenter in onnxruntime. Exports are made for one input size (the graph follows it), so images run
 * at --size, or at the first image's padded working size, and each other size gets its own cached export.
 */
async function ortRunner(model: ReturnType<typeof buildModel>, images: string[], o: ModelCliOptions & { size?: [number, number]; runtime: string; device: string }): Promise<InferenceModel & { dispose(): Promise<void> }> {
  const multiple = Math.max(1, model.pretrainedCfg.inputMultiple ?? 1);
  const pad = (v: number) => Math.ceil(v / multiple) * multiple;
  const sessions = new Map<string, Awaited<ReturnType<typeof ortModelFor>>>();
  const weightsFile = model.weightsFile;
  const get = async (h: number, w: number) => {
    const key = `${h}x${w}`;
    if (!sessions.has(key)) {
      sessions.set(key, await ortModelFor(model, { weightsFile, seed: o.seed, inputSize: [h, w], device: o.device as OrtDevice, onExport: (p) => process.stderr.write(`vizoo: exported ${model.variant} at ${key} to ${p} (cached for --runtime ort)\n`) }));
    }
    return sessions.get(key)!;
  };
  if (o.size) await get(pad(o.size[0]), pad(o.size[1]));
  else if (images[0]) {
    try {
      const first = await loadImageRGB(images[0]);
      const [h, w] = workingSize(model.pretrainedCfg, first.width, first.height);
      await get(pad(h), pad(w));
    } catch {
      /* reported per image later */
    }
  }
  return {
    pretrainedCfg: model.pretrainedCfg,
    numClasses: model.numClasses,
    variant: model.variant,
    eval: () => undefined,
    forward: () => {
      throw new Error('the onnxruntime model runs asynchronously');
    },
    forwardAsync: async (x) => (await get(x.shape[1]!, x.shape[2]!)).forwardAsync(x),
    dispose: async () => {
      for (const s of sessions.values()) await s.dispose();
    },
  };
}
