// The catalog the build writes (what `vizoo list` and `info` print without loading the models) is what the
// live registry says: a model added, renamed or changed without a rebuild would fail here.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { modelCatalog } from '../../src/models/describe.js';
import { matchNames } from '../../src/models/names.js';
import { listModels } from '../../src/index.js';
import { ROOT } from '../paths.js';

describe('the build-time model catalog', () => {
  const written = JSON.parse(readFileSync(join(ROOT, 'dist', 'src', 'models', 'catalog.json'), 'utf8'));

  it('holds every registered model card and token mixer as the registry makes them', () => {
    expect(written).toEqual(JSON.parse(JSON.stringify(modelCatalog())));
  });

  it('matches names as the registry does', () => {
    for (const pattern of ['*', 'van*', '*_b?', 'VAN_B0', 'dinat_s_*,vig_?', 'nothing*']) {
      expect(matchNames(Object.keys(written.models), pattern)).toEqual(listModels(pattern));
    }
  });
});
