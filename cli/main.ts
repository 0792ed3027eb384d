#!/usr/bin/env node
/** The vizoo command line: each command is a thin shell over the public API (src/index.ts). */
import { Command } from 'commander';
import { registerListInfo } from './commands/list_info.js';
import { registerForward } from './commands/forward.js';
import { registerClassify } from './commands/classify.js';
import { registerSegment } from './commands/segment.js';
import { registerParity } from './commands/parity.js';
import { registerBackends } from './commands/backends.js';
import { registerTrain } from './commands/train.js';
import { registerEval } from './commands/eval.js';
import { registerInterop } from './commands/interop.js';
import { registerRetrieval } from './commands/retrieval.js';
import { VERSION } from './common.js';

const program = new Command();
program
  .name('vizoo')
  .description('Vision backbones built from efficient attention blocks: inference, training and weight interop in TypeScript')
  .version(VERSION)
  .showHelpAfterError();

registerListInfo(program);
registerForward(program);
registerClassify(program);
registerSegment(program);
registerParity(program);
registerBackends(program);
registerTrain(program);
registerEval(program);
registerInterop(program);
registerRetrieval(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`vizoo: error: ${(e as Error).message}\n`);
  process.exit(2);
});
