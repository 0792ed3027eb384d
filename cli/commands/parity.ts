import type { Command } from 'commander';
import { formatResult, runParity } from '../../src/index.js';
import { action, backendOption, selectBackend } from '../common.js';

export function registerParity(program: Command): void {
  program
    .command('parity')
    .description('check vizoo modules against golden outputs of the official implementations')
    .argument('<dir>', 'fixture folder with manifest.json (e.g. test/fixtures/parity/large_kernel)')
    .option('--cases <globs>', "case name patterns, comma separated (e.g. 'van_*,bevanet_cks')")
    .option('--json', 'print one JSON object with every result')
    .option('--dump <dir>', 'also write each case output to <dir>/<case>.safetensors (fixture names and layouts)')
    .addOption(backendOption())
    .action(
      action(async (dir: string, o: { cases?: string; json?: boolean; dump?: string; backend: string }) => {
        const backend = await selectBackend(o.backend);
        const results = await runParity(dir, o.cases, { dump: o.dump, onResult: (r) => !o.json && process.stdout.write(`${formatResult(r)}\n`) });
        const passed = results.filter((r) => r.status === 'pass').length;
        if (o.json) process.stdout.write(`${JSON.stringify({ backend: backend.name, passed, total: results.length, results })}\n`);
        else process.stdout.write(`parity: ${passed}/${results.length} cases within tolerance\n`);
        if (!results.length) process.stderr.write(`vizoo: error: no case matches '${o.cases}'\n`);
        return results.length && passed === results.length ? 0 : 1;
      }),
    );
}
