#!/usr/bin/env node
/**
 * The vizoo command line: each command is a thin shell over the public API (src/index.ts). Only the module
 * of the command being run is imported, so `vizoo --version` loads nothing and `vizoo list` no compute
 * backend, image codec or ONNX runtime.
 */
import { Command } from 'commander';
import { VERSION } from './version.js';

// Output piped into a reader that stops early (`vizoo list | head`) ends the command quietly, as Unix tools do.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

type Register = (program: Command) => void;

/** Command modules, with the command names each one registers. */
const MODULES: { names: string[]; load: () => Promise<Register> }[] = [
  { names: ['list', 'info'], load: async () => (await import('./commands/list_info.js')).registerListInfo },
  { names: ['forward'], load: async () => (await import('./commands/forward.js')).registerForward },
  { names: ['classify'], load: async () => (await import('./commands/classify.js')).registerClassify },
  { names: ['segment'], load: async () => (await import('./commands/segment.js')).registerSegment },
  { names: ['parity'], load: async () => (await import('./commands/parity.js')).registerParity },
  { names: ['selftest'], load: async () => (await import('./commands/selftest.js')).registerSelftest },
  { names: ['backends'], load: async () => (await import('./commands/backends.js')).registerBackends },
  { names: ['train', 'finetune'], load: async () => (await import('./commands/train.js')).registerTrain },
  { names: ['eval'], load: async () => (await import('./commands/eval.js')).registerEval },
  { names: ['convert', 'export', 'pull'], load: async () => (await import('./commands/interop.js')).registerInterop },
  { names: ['embed', 'retrieve'], load: async () => (await import('./commands/retrieval.js')).registerRetrieval },
  { names: ['serve'], load: async () => (await import('./commands/serve.js')).registerServe },
];

/** The modules to load for these arguments: the named command's, none for a bare --version, else all (help). */
function modulesFor(args: string[]): typeof MODULES {
  const first = args.find((a) => !a.startsWith('-'));
  const named = first === undefined ? undefined : MODULES.find((m) => m.names.includes(first));
  if (named) return [named];
  if (first === undefined && args.length > 0 && args.every((a) => a === '-V' || a === '--version')) return [];
  return MODULES;
}

async function main(): Promise<void> {
  const program = new Command();
  program
    .name('vizoo')
    .description('Vision backbones built from efficient attention blocks: inference, training and weight interop in TypeScript')
    .version(VERSION)
    .showHelpAfterError();
  for (const m of modulesFor(process.argv.slice(2))) (await m.load())(program);
  await program.parseAsync(process.argv);
}

main().catch((e: unknown) => {
  process.stderr.write(`vizoo: error: ${(e as Error).message}\n`);
  process.exit(2);
});
