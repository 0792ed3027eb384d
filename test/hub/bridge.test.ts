// The scale-out bridge: vizoo's checkpoints load into the official PyTorch code (DDP training) because they
// hold exactly the official keys, shapes and dtypes. Every canonical variant's checkpoint layout is checked
// against test/fixtures/keys; the small ones are written (.safetensors and .pth) and read back.
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkpointLayout, createModel, listModels, readSafetensors, readTorchCheckpoint, saveWeights, writeTorchCheckpoint } from '../../src/index.js';
import { KEYS } from '../paths.js';

interface KeyFile {
  variant: string;
  num_classes: number;
  state_dict: [string, number[], string][];
}

const dir = mkdtempSync(join(tmpdir(), 'vizoo-bridge-'));
const files = readdirSync(KEYS).filter((f) => f.endsWith('.json'));
const registered = new Set(listModels());
/** Written to disk and read back when at most this many parameters. */
const WRITE_LIMIT = 7e6;
const DTYPE = { float32: 'F32', int64: 'I64' } as Record<string, string>;

describe('checkpoints of every canonical variant have the official keys, shapes and dtypes', () => {
  for (const f of files) {
    const ref = JSON.parse(readFileSync(join(KEYS, f), 'utf8')) as KeyFile;
    if (!registered.has(ref.variant)) continue;
    const want = ref.state_dict.map(([k, s, d]) => [k, s, DTYPE[d] ?? d]);
    it(ref.variant, async () => {
      const model = createModel(ref.variant, { numClasses: ref.num_classes, init: false });
      expect(checkpointLayout(model)).toEqual(want);
      if (model.numParams() > WRITE_LIMIT) return;
      model.initialize(1);
      const st = join(dir, `${ref.variant}.safetensors`);
      await saveWeights(model, st);
      const back = readSafetensors(st).tensors;
      expect([...back].map(([k, t]) => [k, t.shape, t.dtype])).toEqual(want);
      const pth = join(dir, `${ref.variant}.pth`);
      writeTorchCheckpoint(pth, back);
      expect([...readTorchCheckpoint(pth)].map(([k, t]) => [k, t.shape, t.dtype])).toEqual(want);
      model.dispose();
    });
  }
});
