import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import {
  type Backbone,
  type CodeEntry,
  type CodeFile,
  type EmbedOptions,
  type EmbedResult,
  atomicWriteFile,
  embedImages,
  expandImageArgs,
  meanAveragePrecision,
  parseCodeFile,
  rankDatabase,
} from '../../src/index.js';
import { type ModelCliOptions, action, addModelOptions, buildModel, deviceOption, type HashRunner, hashRunner, imageProgress, parseIntArg, reportFailures, runtimeOption, selectBackend } from '../common.js';

const DEFAULT_MODEL = 'eet_vit_small_cub_16bit';

interface EmbedCliOptions extends ModelCliOptions {
  backend: string;
  runtime: string;
  device: string;
  batchSize: number;
  output?: string;
  json?: boolean;
}

/** Embeds images with a progress bar, reporting each failure as one line on stderr. */
async function embedWithReport(model: Backbone, paths: string[], opts: EmbedOptions, what: string): Promise<{ ok: CodeEntry[]; failed: number; all: EmbedResult[] }> {
  const images = expandImageArgs(paths);
  if (!images.length) throw new Error(`no images found in ${paths.join(', ')}`);
  const progress = imageProgress(images.length, what);
  const all = await embedImages(model, images, { ...opts, onImage: progress.onImage });
  progress.finish();
  const ok = all.filter((r): r is CodeEntry => !('error' in r));
  return { ok, failed: all.length - ok.length, all };
}

type RetrieveCliOptions = EmbedCliOptions & { database: string[]; top: number; eval?: boolean; mapK?: number };

/** vizoo retrieve once the model is built; `embed` runs it on the chosen runtime. Returns the exit code. */
async function retrieve(model: Backbone, queries: string[], o: RetrieveCliOptions, embed: (paths: string[], what: string) => ReturnType<typeof embedWithReport>): Promise<number> {
  const bits = (model as unknown as { hashBits?: number }).hashBits;
  let database: CodeEntry[];
  let failed = 0;
  let total = 0;
  if (o.database.length === 1 && o.database[0]!.toLowerCase().endsWith('.json')) {
    const path = o.database[0]!;
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw new Error(`${path}: cannot read code file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    const file = parseCodeFile(text, path);
    if (bits !== undefined && file.bits !== bits) throw new Error(`${path}: ${file.bits}-bit codes, but ${model.variant} makes ${bits}-bit codes`);
    database = file.items;
  } else {
    const r = await embed(o.database, 'database');
    database = r.ok;
    failed += r.failed;
    total += r.all.length;
  }
  if (!database.length) throw new Error('the database has no codes');
  let queryResults: EmbedResult[] = [];
  if (queries.length) {
    const r = await embed(queries, 'queries');
    queryResults = r.all;
    failed += r.failed;
    total += r.all.length;
  } else if (!o.eval) {
    throw new Error('give query images, or --eval to evaluate the database against itself');
  }
  if (o.eval) {
    const leaveOneOut = !queries.length;
    const qs = leaveOneOut ? database : queryResults.filter((r): r is CodeEntry => !('error' in r));
    if (!qs.length) throw new Error('no query could be embedded');
    if (qs.some((q) => q.label === null)) throw new Error('--eval needs labelled images: put them in <folder>/<class>/ subfolders');
    const map = meanAveragePrecision(qs, database, o.mapK, leaveOneOut ? (q, d) => q === d : (q, d) => qs[q]!.file === database[d]!.file);
    const k = o.mapK ?? 'all';
    if (o.json) process.stdout.write(`${JSON.stringify({ map, k, queries: qs.length, database: database.length })}\n`);
    else process.stdout.write(`mAP@${k}: ${map.toFixed(4)} (${qs.length} queries, ${database.length} database codes${leaveOneOut ? ', leave-one-out' : ''})\n`);
    return reportFailures(failed, total);
  }
  const ranked = rankDatabase(queryResults, database, o.top);
  if (o.json) process.stdout.write(`${JSON.stringify(ranked)}\n`);
  else {
    const lines: string[] = [];
    for (const r of ranked) {
      if ('error' in r) continue;
      lines.push(`${r.file}${r.label !== null ? `  [${r.label}]` : ''}:`);
      for (const h of r.results) lines.push(`  ${String(h.distance).padStart(3)}  ${h.file}${h.label !== null ? `  [${h.label}]` : ''}`);
    }
    process.stdout.write(lines.join('\n') + (lines.length ? '\n' : ''));
  }
  return reportFailures(failed, total);
}

export function registerRetrieval(program: Command): void {
  addModelOptions(
    program
      .command('embed')
      .description('binary hash codes (sign of the hash head) of images; folders are read as <folder>/<class>/<image>')
      .argument('<paths...>', 'image files or folders')
      .option('-o, --output <file>', 'write the codes to a JSON code file (input of vizoo retrieve --database)')
      .option('--batch-size <n>', 'images per forward pass', parseIntArg('--batch-size', 1), 8)
      .option('--json', 'print JSON: [{file, label, code} | {file, label, error}]')
      .addOption(runtimeOption())
      .addOption(deviceOption()),
    DEFAULT_MODEL,
  ).action(
    action(async (paths: string[], o: EmbedCliOptions) => {
      await selectBackend(o.backend);
      const model = buildModel(o, DEFAULT_MODEL, true);
      const runner = await hashRunner(model, o);
      const { ok, failed, all } = await embedWithReport(model, paths, { batchSize: o.batchSize, hash: runner.hash }, 'embed').finally(() => runner.dispose());
      if (o.output) {
        const file: CodeFile = { model: model.variant, bits: (model as unknown as { hashBits: number }).hashBits, items: ok };
        atomicWriteFile(o.output, `${JSON.stringify(file)}\n`);
        if (!o.json) process.stderr.write(`vizoo: wrote ${ok.length} codes of ${file.bits} bits to ${o.output}\n`);
      }
      if (o.json) process.stdout.write(`${JSON.stringify(all)}\n`);
      else if (!o.output) process.stdout.write(ok.map((r) => `${r.code}  ${r.file}${r.label !== null ? `  [${r.label}]` : ''}`).join('\n') + (ok.length ? '\n' : ''));
      return reportFailures(failed, all.length);
    }),
  );

  addModelOptions(
    program
      .command('retrieve')
      .description('Hamming-ranked retrieval of query images in a database of hash codes, or mAP@k evaluation (--eval)')
      .argument('[queries...]', 'query image files or folders (<folder>/<class>/<image> gives labels)')
      .requiredOption('-d, --database <paths...>', 'database: image files or folders, or a code file from vizoo embed -o')
      .option('-k, --top <k>', 'results per query', parseIntArg('--top', 1), 10)
      .option('--eval', 'print mAP@k of the queries against the labelled database (no queries: each database image against the others)')
      .option('--map-k <k>', 'k of mAP@k (default: the whole database, as EET evaluates)', parseIntArg('--map-k', 1))
      .option('--batch-size <n>', 'images per forward pass', parseIntArg('--batch-size', 1), 8)
      .option('--json', 'print JSON')
      .addOption(runtimeOption())
      .addOption(deviceOption()),
    DEFAULT_MODEL,
  ).action(
    action(async (queries: string[], o: RetrieveCliOptions) => {
      await selectBackend(o.backend);
      const model = buildModel(o, DEFAULT_MODEL, true);
      // The runtime is set up on the first images to embed (a code-file database with --eval needs none).
      const held: { runner?: HashRunner } = {};
      const embed = async (paths: string[], what: string) => {
        held.runner ??= await hashRunner(model, o);
        return embedWithReport(model, paths, { batchSize: o.batchSize, hash: held.runner.hash }, what);
      };
      try {
        return await retrieve(model, queries, o, embed);
      } finally {
        await held.runner?.dispose();
      }
    }),
  );
}
