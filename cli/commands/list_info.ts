import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { type ModelCard, type ModelCatalog, formatModelCard } from '../../src/models/card.js';
import { matchNames } from '../../src/models/names.js';
import type { StateDictEntry } from '../../src/models/describe.js';
import { action, parseImgSize, parseIntArg } from '../options.js';

/**
 * The catalog the build wrote (every model's card and the mixer list): list and info answer from it without
 * loading tfjs and the models, in a fraction of a second. Null when it is missing (a build without it).
 */
function readCatalog(): ModelCatalog | null {
  try {
    return JSON.parse(readFileSync(new URL('../../src/models/catalog.json', import.meta.url), 'utf8')) as ModelCatalog;
  } catch {
    return null;
  }
}

async function liveCatalog(): Promise<ModelCatalog> {
  return (await import('../../src/models/describe.js')).modelCatalog();
}

export function registerListInfo(program: Command): void {
  program
    .command('list')
    .description('list registered models (wildcards: van*, *_b?)')
    .argument('[pattern]', 'name pattern; several separated by commas', '*')
    .option('--json', 'print a JSON array')
    .option('--mixers', "list the ViT token mixers (createModel('vit_small', { mixer })) with their cost in the token count N")
    .action(
      action(async (pattern: string, o: { json?: boolean; mixers?: boolean }) => {
        const catalog = readCatalog() ?? (await liveCatalog());
        if (o.mixers) {
          if (o.json) process.stdout.write(`${JSON.stringify(catalog.mixers)}\n`);
          else for (const r of catalog.mixers) process.stdout.write(`${r.name.padEnd(17)} ${r.complexity.padEnd(16)} ${r.description}\n`);
          return 0;
        }
        const names = matchNames(Object.keys(catalog.models), pattern);
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
        // The catalog holds each model as registered; other options (and unknown names, for the
        // did-you-mean error) build the model.
        const plain = !o.stateDict && o.numClasses === undefined && !o.imgSize;
        let card: ModelCard | undefined = plain ? readCatalog()?.models[name] : undefined;
        let stateDict: StateDictEntry[] | undefined;
        if (!card) {
          const { describeModel } = await import('../../src/models/describe.js');
          ({ card, stateDict } = describeModel(name, { numClasses: o.numClasses, imgSize: o.imgSize }, o.stateDict));
        }
        if (o.json) {
          process.stdout.write(`${JSON.stringify(stateDict ? { ...card.info, state_dict: stateDict.map((e) => [e.key, e.shape]) } : card.info)}\n`);
          return;
        }
        const lines = formatModelCard(card);
        if (stateDict) for (const e of stateDict) lines.push(`  ${e.key} [${e.shape.join(', ')}]${e.dtype === 'int64' ? ' int64' : ''}`);
        process.stdout.write(`${lines.join('\n')}\n`);
      }),
    );
}
