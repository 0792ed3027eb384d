import type { Command } from 'commander';
import { type ClassifyResult, classifyImages } from '../../src/index.js';
import { DEFAULT_MODEL, type ModelCliOptions, action, addModelOptions, buildRunner, imageProgress, parseIntArg, reportFailures, resolveWeightsOption, runtimeOption, deviceOption, selectBackend } from '../common.js';

export function registerClassify(program: Command): void {
  addModelOptions(
    program
      .command('classify')
      .description('classify images (JPEG, PNG, WebP, ...) with a model and its pretrained preprocessing')
      .argument('<images...>', 'image files')
      .option('-k, --top <k>', 'predictions per image', parseIntArg('--top', 1), 5)
      .option('--batch-size <n>', 'images per forward pass', parseIntArg('--batch-size', 1), 8)
      .option('--json', 'print JSON: [{file, predictions: [{index, label, prob}]} | {file, error}]')
      .option('--onnx <file>', 'classify with an ONNX model in onnxruntime (preprocessing from its vizoo metadata, else --model, else ImageNet defaults)')
      .addOption(runtimeOption())
      .addOption(deviceOption()),
    DEFAULT_MODEL,
  ).action(
    action(async (images: string[], o: ModelCliOptions & { top: number; batchSize: number; json?: boolean; backend: string; onnx?: string; runtime: string; device: string }) => {
      await selectBackend(o.backend);
      await resolveWeightsOption(o);
      const model = await buildRunner(o, DEFAULT_MODEL);
      const progress = imageProgress(images.length, 'classify');
      const results = await classifyImages(model, images, { topK: o.top, batchSize: o.batchSize, onImage: progress.onImage });
      progress.finish();
      if (o.json) process.stdout.write(`${JSON.stringify(results)}\n`);
      else process.stdout.write(results.map(formatText).filter(Boolean).join('\n') + '\n');
      await model.dispose?.();
      return reportFailures(results.filter((r) => 'error' in r).length, results.length);
    }),
  );
}

function formatText(r: ClassifyResult): string {
  if ('error' in r) return '';
  return [`${r.file}:`, ...r.predictions.map((p) => `  ${(p.prob * 100).toFixed(2).padStart(6)}%  ${p.label} (${p.index})`)].join('\n');
}
