import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The repository's own test data (see test/fixtures/README.md for how each piece was made). */
export const FIXTURES = join(ROOT, 'test', 'fixtures');
export const PARITY = join(FIXTURES, 'parity');
export const KEYS = join(FIXTURES, 'keys');
export const PTH = join(FIXTURES, 'pth');
export const CLI = join(ROOT, 'dist', 'cli', 'main.js');
