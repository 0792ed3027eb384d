import type { Command } from 'commander';
import { runSelftest } from '../../src/index.js';
import { action, backendOption, selectBackend } from '../common.js';
import { VERSION } from '../version.js';

export function registerSelftest(program: Command): void {
  program
    .command('selftest')
    .description('run the shipped golden cases of every family on a backend and report pass/fail per family')
    .option('--family <names>', 'only these families, comma separated (e.g. VAN,ViG)')
    .option('--json', 'print one JSON object')
    .addOption(backendOption())
    .action(
      action(async (o: { family?: string; json?: boolean; backend: string }) => {
        const backend = await selectBackend(o.backend, true);
        const device = backend.device ? ` (${backend.device})` : '';
        if (!o.json) process.stdout.write(`vizoo ${VERSION} selftest on ${backend.name}${device}\n`);
        const families = await runSelftest({ families: o.family?.split(',').map((s) => s.trim()).filter(Boolean) });
        if (!families.length) throw new Error(`--family: no shipped case belongs to '${o.family}'`);
        const ok = families.filter((f) => f.passed === f.total).length;
        if (o.json) {
          process.stdout.write(`${JSON.stringify({ version: VERSION, backend: backend.name, device: backend.device, passed: ok, total: families.length, families })}\n`);
        } else {
          for (const f of families) {
            const status = f.passed === f.total ? 'pass' : 'FAIL';
            const worst = Number.isFinite(f.worstRatio) ? `worst diff ${(f.worstRatio * 100).toFixed(1)}% of tolerance` : 'did not run';
            process.stdout.write(`  ${f.family.padEnd(12)} ${status}  ${f.passed}/${f.total} cases  ${worst}\n`);
            for (const r of f.results) if (r.status !== 'pass') process.stdout.write(`      ${r.case}: ${r.status}${r.message ? ` (${r.message})` : ''}\n`);
          }
          process.stdout.write(`selftest: ${ok}/${families.length} families pass on ${backend.name}\n`);
        }
        return ok === families.length ? 0 : 1;
      }),
    );
}
