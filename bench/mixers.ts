/**
 * Token mixers in the same ViT: vit_small's width and heads with each mixer, at 112, 224, 448 and 896 px
 * (patch 16: 49, 196, 784 and 3,136 patch tokens plus the class token), as a table of time per forward
 * relative to softmax attention in the same run, and where each mixer overtakes softmax. Two blocks (the hybrid
 * TransNormer then has one of each): every block of a deeper ViT costs the same, and softmax at 3,136
 * tokens takes tens of seconds per block on wasm.
 */
import { type BackendName, TOKEN_MIXERS, createModel } from '../src/index.js';
import { moduleForwardCase } from './forward.js';
import type { BenchCase, BenchModule } from './types.js';

const SIZES = [112, 224, 448, 896];
const BLOCKS = 2;
const tokens = (size: number) => (size / 16) ** 2;
const label = (mixer: string, size: number) => `ViT-S/${BLOCKS} blocks, ${mixer} mixer, ${tokens(size)} tokens (1x3x${size}x${size})`;

// Length by length, every mixer in turn, so that all the mixers compared at a length run close in time.
const cases: BenchCase[] = SIZES.flatMap((size) =>
  TOKEN_MIXERS.map(({ name }) => ({
    ...moduleForwardCase(label(name, size), () => createModel('vit_small', { mixer: name, imgSize: size, depths: [BLOCKS] }), [1, size, size, 3]),
    // The plain JavaScript backend would take hours at 3,136 tokens.
    backends: ['wasm', 'webgpu', 'node', 'node-gpu'] as BackendName[],
    warmup: size >= 448 ? 1 : 3,
    iterations: size >= 896 ? 1 : size >= 448 ? 3 : 7,
  })),
);

const mixers = TOKEN_MIXERS.filter((m) => m.name !== 'softmax');

/**
 * From which length on the mixer stays faster than softmax (time ratio below 1): after the last measured
 * length where it is not, interpolating the ratio log-log to the next length; at or before the shortest one
 * if it is faster everywhere; not within the range if it is slower at the longest.
 */
export function crossover(lengths: number[], r: number[]): string {
  const last = r.map((x) => x >= 1).lastIndexOf(true);
  if (last < 0) return `<= ${lengths[0]} tokens`;
  if (last === r.length - 1) return `not by ${lengths[last]} tokens`;
  const [a, b] = [Math.log(r[last]!), Math.log(r[last + 1]!)];
  return `~${Math.round(lengths[last]! * (lengths[last + 1]! / lengths[last]!) ** (a / (a - b)))} tokens`;
}

export const mixerBench: BenchModule = {
  benchmarks: cases,
  summary: (times, backends) => {
    const out: string[] = [];
    const lengths = SIZES.map(tokens);
    for (const backend of backends) {
      // CPU backends compute on this process's one thread: its CPU time is the compute, whatever else runs.
      const onCpu = backend === 'wasm' || backend === 'cpu' || backend === 'node';
      const ms = (name: string) => {
        const t = times(name, backend);
        return t && (onCpu ? t.cpuMs : t.medianMs);
      };
      const soft = SIZES.map((s) => ms(label('softmax', s)));
      if (soft.some((t) => t === undefined)) continue;
      out.push('', `Token mixers in ViT-S (${BLOCKS} blocks): ${onCpu ? 'CPU' : 'wall-clock'} time per forward / softmax attention's [${backend}]`, '');
      out.push(`| mixer | cost | ${lengths.map((n) => `${n} tokens`).join(' | ')} | overtakes softmax |`, `|---|---|${lengths.map(() => '---:').join('|')}|---|`);
      out.push(`| softmax | O(N^2) | ${soft.map((t) => `${t!.toFixed(0)} ms`).join(' | ')} | |`);
      for (const m of mixers) {
        const t = SIZES.map((s) => ms(label(m.name, s)));
        if (t.some((x) => x === undefined)) continue;
        const r = t.map((x, i) => x! / soft[i]!);
        out.push(`| ${m.name} | ${m.complexity} | ${r.map((x) => x.toFixed(2)).join(' | ')} | ${crossover(lengths, r)} |`);
      }
    }
    return out;
  },
};
