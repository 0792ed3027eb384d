// Every registered variant that has an official key list must match it: keys in order, PyTorch shapes,
// dtypes and parameter count.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createModel, listModels } from '../../src/index.js';
import { KEYS } from '../paths.js';

interface KeyFile {
  variant: string;
  num_classes: number;
  num_params: number;
  state_dict: [string, number[], string][];
}

const files = readdirSync(KEYS).filter((f) => f.endsWith('.json'));
const registered = new Set(listModels());

describe('official state dicts', () => {
  for (const f of files) {
    const ref = JSON.parse(readFileSync(join(KEYS, f), 'utf8')) as KeyFile;
    if (!registered.has(ref.variant)) continue;
    it(ref.variant, () => {
      const model = createModel(ref.variant, { numClasses: ref.num_classes, init: false });
      const ours = model.stateDictInfo().map((e) => [e.key, e.shape, e.dtype === 'int64' ? 'int64' : 'float32']);
      expect(ours.map((e) => e[0])).toEqual(ref.state_dict.map((e) => e[0]));
      expect(ours).toEqual(ref.state_dict);
      expect(model.numParams()).toBe(ref.num_params);
    });
  }
});
