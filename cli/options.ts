/** Option parsers and the error handling of every command; imports nothing of the library, so cheap commands stay cheap. */
import { Option } from 'commander';

export const backendOption = () =>
  new Option('--backend <name>', 'compute backend: auto, node-gpu, node, webgpu, wasm, cpu').default(process.env.VIZOO_BACKEND ?? 'auto');

export const seedOption = () => new Option('--seed <n>', 'seed of the deterministic initialization').default(0).argParser(parseIntArg('--seed'));

export function parseIntArg(name: string, min = Number.MIN_SAFE_INTEGER) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer${min > Number.MIN_SAFE_INTEGER ? ` >= ${min}` : ''}, got '${v}'`);
    return n;
  };
}

/** `--img-size`: "384" or "HEIGHTxWIDTH" -> [h, w]. */
export function parseImgSize(v: string): [number, number] {
  const m = /^(\d+)(?:x(\d+))?$/.exec(v.trim());
  if (!m || Number(m[1]) < 1 || Number(m[2] ?? m[1]) < 1) throw new Error(`--img-size must be SIZE or HEIGHTxWIDTH (e.g. 384 or 448x320), got '${v}'`);
  return [Number(m[1]), Number(m[2] ?? m[1])];
}

/** Runs a command body; any error becomes one line on stderr and exit code 2. Dawn keeps the loop alive, so exit explicitly. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<number | void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    let code = 0;
    try {
      code = (await fn(...args)) ?? 0;
    } catch (e) {
      process.stderr.write(`vizoo: error: ${(e as Error).message}\n`);
      code = 2;
    }
    await new Promise<void>((r) => process.stdout.write('', () => r()));
    process.exit(code);
  };
}

