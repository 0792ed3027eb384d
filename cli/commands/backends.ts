import type { Command } from 'commander';
import { availableBackends } from '../../src/index.js';
import { action } from '../common.js';

export function registerBackends(program: Command): void {
  program
    .command('backends')
    .description('list the compute backends usable on this machine')
    .option('--json', 'print JSON')
    .action(
      action(async (o: { json?: boolean }) => {
        const names = await availableBackends();
        process.stdout.write(o.json ? `${JSON.stringify(names)}\n` : `${names.join('\n')}\n`);
      }),
    );
}
