import type { Command } from 'commander';
import { ProgressBar, evaluate, inputSpecFor, openDataset, type Split } from '../../src/index.js';
import { DEFAULT_MODEL, type ModelCliOptions, action, addModelOptions, buildModel, buildRunner, parseIntArg, resolveWeightsOption, runtimeOption, deviceOption, commandRuntime, selectBackend } from '../common.js';

export function registerEval(program: Command): void {
  addModelOptions(
    program
      .command('eval')
      .description('evaluate a model: top-1 / top-5 / per-class accuracy, or mIoU / pixel accuracy')
      .requiredOption('-d, --data <spec>', 'fashion-mnist | synthetic:shapes[:N] | synthetic:seg-shapes[:N] | <folder>')
      .option('--split <name>', 'train | val | test', 'test')
      .option('-b, --batch-size <n>', 'batch size', parseIntArg('--batch-size', 1), 64)
      .option('--json', 'print JSON')
      .addOption(runtimeOption())
      .addOption(deviceOption()),
    DEFAULT_MODEL,
  ).action(
    action(async (o: ModelCliOptions & { data: string; split: Split; batchSize: number; json?: boolean; backend: string; runtime: string; device: string }) => {
      if (!['train', 'val', 'test'].includes(o.split)) throw new Error(`--split must be train, val or test, got '${o.split}'`);
      await selectBackend(o.backend);
      await resolveWeightsOption(o);
      const ds = openDataset(o.data, o.split);
      const tfModel = buildModel(o, DEFAULT_MODEL, true);
      const spec = inputSpecFor(tfModel.pretrainedCfg);
      const runtime = await commandRuntime(o);
      const model = runtime === 'ort' ? await buildRunner({ ...o, model: tfModel.variant }, undefined, [spec.height, spec.width]) : tfModel;
      if (ds.classes.length !== model.numClasses) {
        process.stderr.write(`vizoo: warning: ${model.variant} has ${model.numClasses} classes and ${o.data} has ${ds.classes.length}: data class i is compared with model output i\n`);
      }
      const bar = new ProgressBar({ total: ds.length, label: 'eval' });
      const m = await evaluate(model, ds, {
        spec,
        numClasses: model.numClasses,
        batchSize: o.batchSize,
        onBatch: (d) => bar.update(d),
        onSkip: (_s, msg) => process.stderr.write(`vizoo: warning: skipped ${msg}\n`),
      });
      bar.finish();
      // Per-class rows for the data's classes only (a 1000-class head on a 4-class set gives 4 rows).
      m.perClass = m.perClass.slice(0, ds.classes.length) as typeof m.perClass;
      const out = { model: model.variant, weights: tfModel.weightsFile, runtime, data: o.data, split: o.split, ...m };
      if (model !== tfModel) await (model as { dispose?(): unknown }).dispose?.();
      if (o.json) process.stdout.write(`${JSON.stringify(out)}\n`);
      else if (m.task === 'classification') {
        process.stdout.write(`${o.data} (${o.split}, ${m.samples} images): top-1 ${(m.top1 * 100).toFixed(2)}%, top-5 ${(m.top5 * 100).toFixed(2)}%\n`);
        for (const c of m.perClass) process.stdout.write(`  ${c.class.padEnd(24)} ${c.accuracy === null ? '-' : `${(c.accuracy * 100).toFixed(2)}%`} (${c.samples})\n`);
      } else {
        process.stdout.write(`${o.data} (${o.split}, ${m.pixels} pixels): mIoU ${(m.mIoU * 100).toFixed(2)}%, pixel accuracy ${(m.pixelAccuracy * 100).toFixed(2)}%\n`);
        for (const c of m.perClass) process.stdout.write(`  ${c.class.padEnd(24)} ${c.iou === null ? '-' : `${(c.iou * 100).toFixed(2)}%`}\n`);
      }
      return m.skipped ? 1 : 0;
    }),
  );
}
