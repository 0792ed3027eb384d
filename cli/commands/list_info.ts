import type { Command } from 'commander';
// The model registry only (not the whole API): list and info start in a fraction of a second.
import { createModel, getModelEntry, listModels } from '../../src/models/index.js';
import { noWeightsReason, sourceLocation, weightSources } from '../../src/hub/sources.js';
import { TOKEN_MIXERS } from '../../src/blocks/token_mixers.js';
import { action, parseImgSize, parseIntArg } from '../options.js';

/** What `vizoo info` says about weights trained at one input size used at another. */
const OTHER_SIZES = {
  any: 'any size',
  resample: 'resampled on load',
  fixed: 'fixed (weights of another size are refused)',
} as const;

export function registerListInfo(program: Command): void {
  program
    .command('list')
    .description('list registered models (wildcards: van*, *_b?)')
    .argument('[pattern]', 'name pattern; several separated by commas', '*')
    .option('--json', 'print a JSON array')
    .option('--mixers', "list the ViT token mixers (createModel('vit_small', { mixer })) with their cost in the token count N")
    .action(
      action(async (pattern: string, o: { json?: boolean; mixers?: boolean }) => {
        if (o.mixers) {
          const rows = TOKEN_MIXERS.map(({ name, complexity, reach, description, paper }) => ({ name, complexity, reach, description, paper }));
          if (o.json) process.stdout.write(`${JSON.stringify(rows)}\n`);
          else for (const r of rows) process.stdout.write(`${r.name.padEnd(17)} ${r.complexity.padEnd(16)} ${r.description}\n`);
          return 0;
        }
        const names = listModels(pattern);
        if (!names.length) process.stderr.write(`vizoo: no model matches '${pattern}' (vizoo list shows them all)\n`);
        if (o.json) process.stdout.write(`${JSON.stringify(names)}\n`);
        else for (const n of names) process.stdout.write(`${n}\n`);
        return names.length ? 0 : 1;
      }),
    );

  program
    .command('info')
    .description('architecture, parameter count and pretrained config of a model')
    .argument('<model>', 'registered model name')
    .option('--json', 'print JSON')
    .option('--state-dict', 'add the official state dict keys with PyTorch-layout shapes')
    .option('--num-classes <n>', 'number of classes of the head', parseIntArg('--num-classes', 0))
    .option('--img-size <size>', 'the model built for this input size (SIZE or HxW)', parseImgSize)
    .action(
      action(async (name: string, o: { json?: boolean; stateDict?: boolean; numClasses?: number; imgSize?: [number, number] }) => {
        const entry = getModelEntry(name);
        const model = createModel(name, { init: false, numClasses: o.numClasses, imgSize: o.imgSize });
        const info: Record<string, unknown> = {
          name,
          architecture: entry.architecture,
          params: model.numParams(),
          num_classes: model.numClasses,
          config: model.pretrainedCfg,
          features: model.featureInfo,
          other_input_sizes: model.inputSizeSupport,
        };
        if (o.stateDict) info.state_dict = model.stateDictInfo().map((e) => [e.key, e.shape]);
        if (o.json) {
          process.stdout.write(`${JSON.stringify(info)}\n`);
          return;
        }
        const c = model.pretrainedCfg;
        const lines = [
          `${name} (${entry.architecture})`,
          `  parameters    ${model.numParams().toLocaleString('en-US')}`,
          `  classes       ${model.numClasses}${typeof c.labels === 'string' ? ` (${c.labels})` : ''}`,
          `  input         ${c.inputSize.join('x')}, crop_pct ${c.cropPct}, ${c.interpolation}`,
          `  mean / std    ${c.mean.join(', ')} / ${c.std.join(', ')}`,
          `  stages        ${model.featureInfo.map((f) => `${f.channels}@1/${f.reduction}`).join(', ')}`,
          `  other sizes   ${OTHER_SIZES[model.inputSizeSupport.kind]}: ${model.inputSizeSupport.note}`,
        ];
        const source = weightSources(name).default;
        lines.push(`  weights       ${source ? `${sourceLocation(source)} (vizoo pull ${name})` : (noWeightsReason(name) ?? 'no known source')}`);
        if (c.notes) lines.push(`  notes         ${c.notes}`);
        if (o.stateDict) for (const e of model.stateDictInfo()) lines.push(`  ${e.key} [${e.shape.join(', ')}]${e.dtype === 'int64' ? ' int64' : ''}`);
        process.stdout.write(`${lines.join('\n')}\n`);
      }),
    );
}
